//! Per-zone peer address book (work in progress).
