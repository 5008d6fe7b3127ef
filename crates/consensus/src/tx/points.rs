//! Ed25519 point checks as monerod makes them.

use std::sync::LazyLock;

use curve25519_dalek_v4::{
    constants::ED25519_BASEPOINT_POINT,
    edwards::{CompressedEdwardsY, EdwardsPoint},
    scalar::Scalar,
    traits::IsIdentity,
};
use monero_oxide::ed25519::CompressedPoint;

/// Monero's second generator `H`, for amounts in commitments.
pub(crate) static H: LazyLock<Option<EdwardsPoint>> =
    LazyLock::new(|| decompress(&CompressedPoint::H.to_bytes()));

/// Decompresses a point the way monerod's `ge_frombytes_vartime` accepts it: the y
/// coordinate reduced (below 2^255 - 19) and no negative zero. Torsion is allowed.
pub(crate) fn decompress(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    CompressedEdwardsY(*bytes)
        .decompress()
        .filter(|point| point.compress().to_bytes() == *bytes)
}

/// monerod's `check_key`: the bytes are a point on the curve.
pub(crate) fn is_valid_point(bytes: &[u8; 32]) -> bool {
    decompress(bytes).is_some()
}

/// A key image monerod accepts: a point, not the identity, and in the prime-order subgroup
/// (`l · I = identity`).
pub(crate) fn is_valid_key_image(bytes: &[u8; 32]) -> bool {
    decompress(bytes).is_some_and(|point| !point.is_identity() && point.is_torsion_free())
}

/// The commitment Monero gives an output with a clear amount: `G + amount · H`
/// (monerod's `zeroCommit`). Pre-RingCT outputs spent by RingCT inputs, and RingCT coinbase
/// outputs, use it.
pub fn zero_commitment(amount: u64) -> [u8; 32] {
    match *H {
        Some(h) => (ED25519_BASEPOINT_POINT + h * Scalar::from(amount))
            .compress()
            .to_bytes(),
        // `H` is a fixed valid point; this arm is never taken.
        None => [0; 32],
    }
}

/// `sum(a) == sum(b) + fee · H`, with every point decompressed as monerod does. `Err`
/// carries which side and index failed to decompress (`true` for `a`).
pub(crate) fn balances(
    a: &[CompressedPoint],
    b: &[CompressedPoint],
    fee: u64,
) -> Result<bool, (bool, usize)> {
    let sum = |points: &[CompressedPoint], side: bool| -> Result<EdwardsPoint, (bool, usize)> {
        points
            .iter()
            .enumerate()
            .try_fold(EdwardsPoint::default(), |acc, (i, p)| {
                decompress(&p.to_bytes()).map(|p| acc + p).ok_or((side, i))
            })
    };
    let lhs = sum(a, true)?;
    let rhs = sum(b, false)?;
    let h = (*H).ok_or((false, 0))?;
    Ok(lhs == rhs + h * Scalar::from(fee))
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use super::*;

    /// Monero's own `check_key` vectors (monero-tests): our point check agrees on all of them.
    #[test]
    fn output_key_check_matches_monerods_check_key_vectors() {
        let Ok(text) = std::fs::read_to_string("/usr/share/monero/testdata/crypto/tests.txt")
        else {
            eprintln!("monero-tests not installed; skipping");
            return;
        };
        let mut n = 0;
        for line in text.lines().filter(|l| l.starts_with("check_key ")) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            let key: [u8; 32] = hex::decode(parts[1]).unwrap().try_into().unwrap();
            let expected = parts[2] == "true";
            assert_eq!(is_valid_point(&key), expected, "{line}");
            n += 1;
        }
        assert!(n > 300, "only {n} vectors");
    }

    #[test]
    fn key_image_domain() {
        // The identity is a point but not a key image.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert!(is_valid_point(&identity));
        assert!(!is_valid_key_image(&identity));
        // A point of order 8 (torsion) is refused.
        let torsion = curve25519_dalek_v4::constants::EIGHT_TORSION[1]
            .compress()
            .to_bytes();
        assert!(is_valid_point(&torsion));
        assert!(!is_valid_key_image(&torsion));
        // G plus torsion is refused, G is accepted.
        let g = ED25519_BASEPOINT_POINT;
        let g_t = (g + curve25519_dalek_v4::constants::EIGHT_TORSION[1])
            .compress()
            .to_bytes();
        assert!(!is_valid_key_image(&g_t));
        assert!(is_valid_key_image(&g.compress().to_bytes()));
    }

    #[test]
    fn negative_zero_and_unreduced_y_are_refused() {
        // y = 1 with the sign bit set: x = 0, "negative zero".
        let mut neg_zero = [0u8; 32];
        neg_zero[0] = 1;
        neg_zero[31] = 0x80;
        assert!(!is_valid_point(&neg_zero));
        // y = p + 1 (unreduced encoding of y = 1).
        let mut unreduced = [0xffu8; 32];
        unreduced[0] = 0xee;
        unreduced[31] = 0x7f;
        assert!(!is_valid_point(&unreduced));
    }

    #[test]
    fn zero_commitment_is_g_plus_amount_h() {
        use monero_oxide::ed25519::{Commitment, Scalar as MScalar};
        for amount in [0u64, 1, 10_000_000_000, u64::MAX] {
            let expected = Commitment::new(MScalar::ONE, amount)
                .commit()
                .compress()
                .to_bytes();
            assert_eq!(zero_commitment(amount), expected);
        }
    }
}
