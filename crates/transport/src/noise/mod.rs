//! Umbra's encrypted, unfingerprintable transport (in progress).
