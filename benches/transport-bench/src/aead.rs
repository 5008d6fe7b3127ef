//! The single-core speed of the AEAD under Umbra's Noise records: ChaCha20-Poly1305.
//!
//! Umbra's Noise transport takes its cipher from snow's ring resolver
//! (`snow::resolvers::RingResolver`, i.e. ring's assembly ChaCha20-Poly1305), with
//! RustCrypto's `chacha20poly1305` (snow's default resolver) only as a fallback should
//! ring not offer it (`umbra_transport::noise`'s `crypto.rs`). [`measure`] uses that same
//! path: it asks the ring resolver first and the default one second, reports which one
//! answered, and drives it through snow's `Cipher` trait exactly as a record is sealed
//! (`encrypt(nonce, no associated data, plaintext, out)`: one copy of the plaintext into
//! the output, then ring's in-place seal). It also measures opening (`decrypt`), ring's
//! in-place seal without snow's copy, and ring's AES-256-GCM (not used by Umbra) for
//! reference.
//!
//! Everything runs on the calling thread: a single-core figure. Speeds are bytes per
//! second of that thread's CPU time (`/proc/thread-self/schedstat`), so other processes
//! on the machine do not lower them (the wall-clock speed is kept too).

use std::{hint::black_box, time::Instant};

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use snow::{
    params::CipherChoice,
    resolvers::{CryptoResolver, DefaultResolver, RingResolver},
    types::Cipher,
};

use crate::{Result, cpu::thread_cpu, stats};

/// The Poly1305 tag.
const TAG_LEN: usize = 16;

/// Which implementation [`measure`] found, as the Noise transport would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// ring (snow's `RingResolver`).
    Ring,
    /// RustCrypto `chacha20poly1305` (snow's `DefaultResolver`).
    RustCrypto,
}

impl Backend {
    /// A label.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ring => "ring (snow RingResolver)",
            Self::RustCrypto => "RustCrypto chacha20poly1305 (snow DefaultResolver)",
        }
    }
}

/// The figures, bytes of plaintext per second of the thread's CPU time (medians over the
/// repeats).
#[derive(Debug, Clone, Copy)]
pub struct AeadReport {
    /// Which implementation.
    pub backend: Backend,
    /// Plaintext bytes per record.
    pub record: usize,
    /// Plaintext bytes per repeat.
    pub bytes: u64,
    /// Seal through snow's `Cipher::encrypt` (what a Noise record costs the sender).
    pub seal: f64,
    /// Open through snow's `Cipher::decrypt` (what it costs the receiver).
    pub open: f64,
    /// ring's `seal_in_place_separate_tag` directly, no copy (ring's own speed).
    pub ring_in_place: f64,
    /// ring's AES-256-GCM, in place, for reference: not what Umbra uses, but what a
    /// cipher with hardware support (AES-NI, VAES) costs on the same machine.
    pub aes_gcm_in_place: f64,
    /// The seal again, per second of wall time (lower when the machine is busy).
    pub seal_wall: f64,
}

/// Seals `records` copies of `plain` in place with ring's `algorithm` (one buffer,
/// nonces counting up); the thread's CPU time taken.
fn ring_in_place(
    algorithm: &'static aead::Algorithm,
    key: &[u8; 32],
    plain: &[u8],
    records: u64,
) -> Result<std::time::Duration> {
    let key =
        LessSafeKey::new(UnboundKey::new(algorithm, key).map_err(|_| "ring refused the key")?);
    let mut buffer = plain.to_vec();
    let cpu = thread_cpu()?;
    for nonce in 0..records {
        let mut nonce_bytes = [0u8; 12];
        if let Some(tail) = nonce_bytes.get_mut(4..) {
            tail.copy_from_slice(&nonce.to_le_bytes());
        }
        let tag = key
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(nonce_bytes),
                Aad::empty(),
                black_box(&mut buffer),
            )
            .map_err(|_| "ring seal failed")?;
        let _ = black_box(tag);
    }
    Ok(thread_cpu()?.saturating_sub(cpu))
}

/// The cipher the Noise transport would get.
fn cipher() -> Result<(Backend, Box<dyn Cipher>)> {
    let choice = CipherChoice::ChaChaPoly;
    if let Some(cipher) = RingResolver.resolve_cipher(&choice) {
        return Ok((Backend::Ring, cipher));
    }
    DefaultResolver
        .resolve_cipher(&choice)
        .map(|cipher| (Backend::RustCrypto, cipher))
        .ok_or_else(|| "snow offers no ChaCha20-Poly1305".into())
}

/// Seals and opens `bytes` of plaintext (rounded down to whole records, at least one) in
/// `record`-byte records, `repeats` times each after one untimed warm-up pass; reports
/// the medians.
///
/// # Errors
/// If no cipher is available or ring refuses the key (neither happens in practice), or
/// a record fails to open.
pub fn measure(bytes: u64, record: usize, repeats: usize) -> Result<AeadReport> {
    let (backend, mut cipher) = cipher()?;
    let key = [0x24u8; 32];
    cipher.set(&key);
    let records = (bytes / u64::try_from(record.max(1))?).max(1);
    let total = records * u64::try_from(record)?;
    let plain = vec![0x5au8; record];
    let mut sealed = vec![0u8; record + TAG_LEN];
    let mut opened = vec![0u8; record + TAG_LEN];

    let mut seal = Vec::with_capacity(repeats);
    let mut open = Vec::with_capacity(repeats);
    let mut in_place = Vec::with_capacity(repeats);
    let mut aes = Vec::with_capacity(repeats);
    let mut seal_wall = Vec::with_capacity(repeats);
    for round in 0..=repeats {
        let started = Instant::now();
        let cpu = thread_cpu()?;
        for nonce in 0..records {
            black_box(cipher.encrypt(nonce, &[], black_box(&plain), &mut sealed));
        }
        black_box(&sealed);
        let seal_time = thread_cpu()?.saturating_sub(cpu);
        let seal_wall_time = started.elapsed();

        // `sealed` now holds the last record, under nonce `records - 1`: opening it again
        // and again is valid every time (the nonce is the caller's, as in the transport).
        let last = records - 1;
        let cpu = thread_cpu()?;
        for _ in 0..records {
            let n = cipher
                .decrypt(last, &[], black_box(&sealed), &mut opened)
                .map_err(|error| format!("open failed: {error:?}"))?;
            black_box(n);
        }
        let open_time = thread_cpu()?.saturating_sub(cpu);

        let ring_time = ring_in_place(&aead::CHACHA20_POLY1305, &key, &plain, records)?;
        let aes_time = ring_in_place(&aead::AES_256_GCM, &key, &plain, records)?;

        if round > 0 {
            seal.push(stats::rate(total, seal_time));
            open.push(stats::rate(total, open_time));
            in_place.push(stats::rate(total, ring_time));
            aes.push(stats::rate(total, aes_time));
            seal_wall.push(stats::rate(total, seal_wall_time));
        }
    }
    let median = |v: &[f64]| stats::median(v).ok_or("no AEAD samples");
    Ok(AeadReport {
        backend,
        record,
        bytes: total,
        seal: median(&seal)?,
        open: median(&open)?,
        ring_in_place: median(&in_place)?,
        aes_gcm_in_place: median(&aes)?,
        seal_wall: median(&seal_wall)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_transport_gets_ring() {
        let report = measure(4 << 20, 64 * 1024, 1).unwrap();
        assert_eq!(report.backend, Backend::Ring);
        // CPU time is read from the scheduler's counters, updated at ticks and switches:
        // a few milliseconds of work may read as none. Only the wall time is sure.
        assert!(report.seal_wall > 0.0);
        assert!(report.seal.is_finite() && report.open.is_finite());
    }
}
