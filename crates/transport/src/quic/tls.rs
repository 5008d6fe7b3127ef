//! The TLS 1.3 side: our certificate, signing with the identity, and the two verifiers that
//! turn "a certificate" into "this Umbra key".
//!
//! Both verifiers accept exactly one certificate, self-signed, whose key is Ed25519, and
//! handshake signatures made with that key under the `ed25519` scheme; everything else
//! (chains, other key types, other schemes, TLS 1.2) is refused with a rustls error, never a
//! panic. Validity dates and names are not checked: the certificate carries a key and nothing
//! else, and a node's clock says nothing about whether a peer holds its key.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::{
    DigitallySignedStruct, DistinguishedName, SignatureAlgorithm, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::{CryptoProvider, WebPkiSupportedAlgorithms},
    pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime},
    server::{
        ParsedCertificate,
        danger::{ClientCertVerified, ClientCertVerifier},
    },
    sign::{CertifiedKey, SingleCertAndKey},
};
use umbra_identity::{Identity, PublicKey};

use super::QuicError;

/// The ALPN protocol both sides offer; a peer offering something else is refused by TLS.
pub(crate) const ALPN: &[u8] = b"umbra/1";

/// The server name handed to quinn, which wants one. It is never sent (SNI is off) and never
/// checked (the key is the identity).
pub(crate) const SERVER_NAME: &str = "umbra";

/// `SubjectPublicKeyInfo` of an Ed25519 key (RFC 8410 §4) up to the 32 key bytes:
/// `SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING (0 unused bits) ... }`.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The content of the `AlgorithmIdentifier` of an Ed25519 signature (RFC 8410 §3): the OID
/// 1.3.101.112 and no parameters.
const ED25519_ALGORITHM: [u8; 5] = [0x06, 0x03, 0x2b, 0x65, 0x70];

const DER_SEQUENCE: u8 = 0x30;
const DER_BIT_STRING: u8 = 0x03;

/// Our identity as TLS needs it: a self-signed certificate for the identity key, and a
/// signer that signs with the identity itself (the secret is never copied out of it).
pub(crate) fn certified_key(identity: &Identity) -> Result<Arc<CertifiedKey>, QuicError> {
    let identity = Arc::new(identity.clone());
    let signer = CertSigner {
        identity: &identity,
        public: identity.public().to_bytes(),
    };
    let mut params = rcgen::CertificateParams::default();
    // rcgen's default subject is "rcgen self signed cert"; an empty one says nothing.
    params.distinguished_name = rcgen::DistinguishedName::new();
    let cert = params
        .self_signed(&signer)
        .map_err(|error| QuicError::Setup(format!("building the certificate: {error}")))?;
    let key = Arc::new(IdentityKey { identity });
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], key)))
}

/// The key a peer's certificate binds, if it is a well-formed self-signed Ed25519
/// certificate.
pub(crate) fn certificate_key(cert: &CertificateDer<'_>) -> Result<PublicKey, CertError> {
    let parsed = ParsedCertificate::try_from(cert).map_err(|_| CertError::Malformed)?;
    let spki = parsed.subject_public_key_info();
    let key: &[u8; 32] = spki
        .as_ref()
        .strip_prefix(ED25519_SPKI_PREFIX.as_slice())
        .and_then(|rest| rest.try_into().ok())
        .ok_or(CertError::NotEd25519)?;
    let key = PublicKey::from_bytes(key).map_err(|_| CertError::BadKey)?;
    let (tbs, signature) = self_signature(cert.as_ref()).ok_or(CertError::NotEd25519)?;
    key.verify(tbs, signature)
        .map_err(|_| CertError::BadSelfSignature)?;
    Ok(key)
}

/// Splits a certificate into the signed part and its Ed25519 signature; `None` if the outer
/// structure is not `SEQUENCE { tbs, ed25519 AlgorithmIdentifier, BIT STRING of 64 bytes }`.
///
/// webpki has parsed the same bytes strictly before this runs; this walks only the three
/// outer elements.
fn self_signature(cert: &[u8]) -> Option<(&[u8], &[u8; 64])> {
    let (DER_SEQUENCE, cert, []) = der_element(cert)? else {
        return None;
    };
    let (DER_SEQUENCE, _, after_tbs) = der_element(cert)? else {
        return None;
    };
    let tbs = cert.get(..cert.len().checked_sub(after_tbs.len())?)?;
    let (DER_SEQUENCE, algorithm, after_algorithm) = der_element(after_tbs)? else {
        return None;
    };
    if algorithm != ED25519_ALGORITHM {
        return None;
    }
    let (DER_BIT_STRING, [0, signature @ ..], []) = der_element(after_algorithm)? else {
        return None;
    };
    Some((tbs, signature.try_into().ok()?))
}

/// One DER element at the start of `input`: its tag, its content and what follows it.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        // Long form: the low bits say how many length bytes follow (at most 4 here).
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let (bytes, rest) = rest.split_at_checked(count)?;
        let len = bytes.iter().try_fold(0usize, |len, &byte| {
            len.checked_mul(256)?.checked_add(usize::from(byte))
        })?;
        (len, rest)
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

/// Why a peer's certificate does not name an Umbra identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CertError {
    /// Not a parseable X.509 certificate.
    #[error("the certificate is not valid DER X.509")]
    Malformed,
    /// A key other than Ed25519 (or a signature algorithm other than Ed25519).
    #[error("the certificate's key is not Ed25519 (Umbra identities are Ed25519 keys)")]
    NotEd25519,
    /// Ed25519, but not a usable point.
    #[error("the certificate's Ed25519 key is not a usable point")]
    BadKey,
    /// The certificate is not signed by its own key.
    #[error("the certificate is not self-signed by its key")]
    BadSelfSignature,
    /// More than the one certificate.
    #[error("the peer sent a certificate chain; an Umbra identity is one self-signed certificate")]
    Chain,
}

impl From<CertError> for rustls::Error {
    fn from(error: CertError) -> Self {
        let error = match error {
            CertError::Malformed => rustls::CertificateError::BadEncoding,
            CertError::BadSelfSignature => rustls::CertificateError::BadSignature,
            CertError::NotEd25519 | CertError::BadKey | CertError::Chain => {
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(error)))
            }
        };
        Self::InvalidCertificate(error)
    }
}

/// Checks one certificate and, on the dialling side, the handshake signatures over it.
fn check_single(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
) -> Result<PublicKey, CertError> {
    if !intermediates.is_empty() {
        return Err(CertError::Chain);
    }
    certificate_key(end_entity)
}

/// A TLS 1.3 handshake signature: Ed25519 only, verified by the ring provider's helper.
fn verify_tls13(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    if dss.scheme != SignatureScheme::ED25519 {
        return Err(rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into());
    }
    rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
}

fn no_tls12() -> rustls::Error {
    rustls::Error::PeerIncompatible(rustls::PeerIncompatible::Tls13RequiredForQuic)
}

/// The dialler's verifier: the server must prove the key we dialled.
///
/// It records the key the server presented, so a failed dial can say which key it met.
#[derive(Debug)]
pub(crate) struct ExpectKey {
    expected: PublicKey,
    presented: Arc<Mutex<Option<PublicKey>>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ExpectKey {
    /// A verifier for `expected`; `presented` receives the key the server's certificate
    /// carries, whether or not it is the expected one.
    pub(crate) fn new(
        expected: PublicKey,
        presented: Arc<Mutex<Option<PublicKey>>>,
        provider: &CryptoProvider,
    ) -> Self {
        Self {
            expected,
            presented,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for ExpectKey {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let key = check_single(end_entity, intermediates)?;
        *self
            .presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(key);
        if key != self.expected {
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// The listener's verifier: a client certificate is required, and any self-signed Ed25519
/// one is accepted; its key is the peer's identity.
#[derive(Debug)]
pub(crate) struct AnyIdentity {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyIdentity {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        check_single(end_entity, intermediates)?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(no_tls12())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        vec![SignatureScheme::ED25519]
    }
}

/// TLS 1.3 only, ring's algorithms.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The dialler's TLS configuration for one peer: our certificate, `verifier` for theirs,
/// no SNI, no resumption, no early data.
pub(crate) fn client_config(
    certified: &Arc<CertifiedKey>,
    expected: PublicKey,
    presented: Arc<Mutex<Option<PublicKey>>>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(ExpectKey::new(expected, presented, &provider));
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(certified))));
    config.alpn_protocols = vec![ALPN.to_vec()];
    // The name is meaningless here (the key is the identity); not sending it hides nothing
    // that matters but avoids a fixed marker in every ClientHello.
    config.enable_sni = false;
    // A resumed session skips the certificate, and with it the key check.
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_early_data = false;
    Ok(config)
}

/// The listener's TLS configuration: our certificate, a client certificate required, no
/// session tickets (every connection proves its key afresh), no early data.
pub(crate) fn server_config(
    certified: &Arc<CertifiedKey>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = provider();
    let verifier = Arc::new(AnyIdentity {
        algorithms: provider.signature_verification_algorithms,
    });
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(Arc::clone(certified))));
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.max_early_data_size = 0;
    Ok(config)
}

/// The identity as rcgen's signer, for the certificate's self-signature.
struct CertSigner<'a> {
    identity: &'a Identity,
    public: [u8; 32],
}

impl rcgen::PublicKeyData for CertSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        &self.public
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_ED25519
    }
}

impl rcgen::SigningKey for CertSigner<'_> {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        Ok(self.identity.sign(message).to_vec())
    }
}

/// The identity as rustls's signing key, for `CertificateVerify` in every handshake.
#[derive(Debug)]
struct IdentityKey {
    identity: Arc<Identity>,
}

impl rustls::sign::SigningKey for IdentityKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn rustls::sign::Signer>> {
        offered.contains(&SignatureScheme::ED25519).then(|| {
            Box::new(IdentitySigner {
                identity: Arc::clone(&self.identity),
            }) as Box<dyn rustls::sign::Signer>
        })
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        let mut spki = ED25519_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(&self.identity.public().to_bytes());
        Some(SubjectPublicKeyInfoDer::from(spki))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        SignatureAlgorithm::ED25519
    }
}

#[derive(Debug)]
struct IdentitySigner {
    identity: Arc<Identity>,
}

impl rustls::sign::Signer for IdentitySigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        Ok(self.identity.sign(message).to_vec())
    }

    fn scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn our_certificate_carries_our_key() {
        let identity = Identity::generate();
        let certified = certified_key(&identity).unwrap();
        let cert = certified.end_entity_cert().unwrap();
        assert_eq!(certificate_key(cert).unwrap(), identity.public());
        // The certificate and the signing key agree (rustls's own consistency check).
        certified.keys_match().unwrap();
    }

    #[test]
    fn a_tampered_certificate_is_refused() {
        let identity = Identity::generate();
        let certified = certified_key(&identity).unwrap();
        let good = certified.end_entity_cert().unwrap().to_vec();
        // The last byte is inside the signature; the one before the SPKI's key is in the
        // signed part. Either change breaks the self-signature.
        let mut bad_signature = good.clone();
        *bad_signature.last_mut().unwrap() ^= 1;
        assert_eq!(
            certificate_key(&CertificateDer::from(bad_signature)),
            Err(CertError::BadSelfSignature)
        );
        let other = Identity::generate().public().to_bytes();
        let at = good
            .windows(32)
            .position(|w| w == identity.public().to_bytes())
            .unwrap();
        let mut swapped_key = good;
        swapped_key[at..at + 32].copy_from_slice(&other);
        assert_eq!(
            certificate_key(&CertificateDer::from(swapped_key)),
            Err(CertError::BadSelfSignature)
        );
    }

    #[test]
    fn other_certificates_are_refused() {
        let ecdsa = rcgen::generate_simple_self_signed(vec!["x".to_owned()]).unwrap();
        assert_eq!(
            certificate_key(ecdsa.cert.der()),
            Err(CertError::NotEd25519)
        );
        for junk in [
            &[][..],
            &[0x30],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x00],
        ] {
            assert_eq!(
                certificate_key(&CertificateDer::from(junk.to_vec())),
                Err(CertError::Malformed)
            );
            assert!(self_signature(junk).is_none());
        }
    }

    #[test]
    fn der_lengths() {
        assert_eq!(
            der_element(&[0x04, 0x01, 0xaa, 0xbb]),
            Some((4, &[0xaa][..], &[0xbb][..]))
        );
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend(std::iter::repeat_n(7u8, 256));
        assert_eq!(
            der_element(&long).map(|(_, c, r)| (c.len(), r.len())),
            Some((256, 0))
        );
        assert_eq!(der_element(&[0x04, 0x80]), None);
        assert_eq!(der_element(&[0x04, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(der_element(&[0x04, 0x02, 0xaa]), None);
    }
}
