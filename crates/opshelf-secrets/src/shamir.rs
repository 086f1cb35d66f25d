//! Shamir's secret sharing over GF(2^8) (the AES field, reduction polynomial 0x11b), in
//! Vault's share layout: each share is the secret's length of y-values followed by one
//! x-coordinate byte. Written here rather than taken from `sharks` (RUSTSEC-2024-0398).
//!
//! Pure code: no I/O. Inputs come from unauthenticated `sys/unseal` calls, so nothing here
//! panics on malformed shares; it returns an error instead.

use rand::RngCore;
use zeroize::{Zeroize, Zeroizing};

/// Why a split or combine was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShamirError {
    #[error("parts must be at least 2 and at most 255 and threshold at most parts")]
    BadParameters,
    #[error("cannot split an empty secret")]
    EmptySecret,
    #[error("less than two parts cannot be used to reconstruct the secret")]
    TooFewParts,
    #[error("all parts must be the same length")]
    LengthMismatch,
    #[error("parts too short")]
    TooShort,
    #[error("duplicate part detected")]
    DuplicatePart,
}

/// Multiply in GF(2^8) without data-dependent branches on secret bits.
fn mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut p = 0u8;
    for _ in 0..8 {
        // mask = 0xff when the low bit of b is set
        let mask = 0u8.wrapping_sub(b & 1);
        p ^= a & mask;
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    p
}

/// Multiplicative inverse (a^254); inverse of 0 is 0, never used as a divisor here.
fn inv(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut e = 254u8;
    while e > 0 {
        if e & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        e >>= 1;
    }
    result
}

fn div(a: u8, b: u8) -> u8 {
    mul(a, inv(b))
}

/// Evaluate the polynomial with `coeffs` (constant term first) at `x` (Horner).
fn eval(coeffs: &[u8], x: u8) -> u8 {
    let mut acc = 0u8;
    for c in coeffs.iter().rev() {
        acc = mul(acc, x) ^ c;
    }
    acc
}

/// Split `secret` into `parts` shares, any `threshold` of which rebuild it.
///
/// # Errors
/// When the parameters are out of range or the secret is empty.
pub fn split(
    secret: &[u8],
    parts: usize,
    threshold: usize,
) -> Result<Vec<Zeroizing<Vec<u8>>>, ShamirError> {
    if parts < threshold || parts > 255 || threshold < 2 {
        return Err(ShamirError::BadParameters);
    }
    if secret.is_empty() {
        return Err(ShamirError::EmptySecret);
    }
    let mut rng = rand::rng();
    // Distinct non-zero x coordinates: a random permutation of 1..=255, first `parts`.
    let mut xs: Vec<u8> = (1..=255u8).collect();
    for i in (1..xs.len()).rev() {
        let j = (rng.next_u32() as usize) % (i + 1);
        xs.swap(i, j);
    }
    let mut out: Vec<Zeroizing<Vec<u8>>> = (0..parts)
        .map(|_| Zeroizing::new(vec![0u8; secret.len() + 1]))
        .collect();
    for (i, share) in out.iter_mut().enumerate() {
        share[secret.len()] = xs[i];
    }
    let mut coeffs = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coeffs[0] = byte;
        rng.fill_bytes(&mut coeffs[1..]);
        for share in &mut out {
            let x = share[secret.len()];
            share[idx] = eval(&coeffs, x);
        }
    }
    coeffs.zeroize();
    Ok(out)
}

/// Rebuild the secret from shares (Lagrange interpolation at x = 0). With fewer than the
/// threshold, or a wrong share, this yields a wrong secret: callers verify it (the root
/// key's AEAD tag does).
///
/// # Errors
/// When fewer than two shares, lengths differ, or two shares have the same x.
pub fn combine(parts: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, ShamirError> {
    if parts.len() < 2 {
        return Err(ShamirError::TooFewParts);
    }
    let len = parts[0].len();
    if len < 2 {
        return Err(ShamirError::TooShort);
    }
    if parts.iter().any(|p| p.len() != len) {
        return Err(ShamirError::LengthMismatch);
    }
    let xs: Vec<u8> = parts.iter().map(|p| p[len - 1]).collect();
    for i in 0..xs.len() {
        for j in 0..i {
            if xs[i] == xs[j] {
                return Err(ShamirError::DuplicatePart);
            }
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    for (idx, out) in secret.iter_mut().enumerate() {
        let mut acc = 0u8;
        for (i, part) in parts.iter().enumerate() {
            // basis polynomial l_i(0) = prod_{j != i} x_j / (x_j - x_i); subtraction is xor
            let mut basis = 1u8;
            for (j, &xj) in xs.iter().enumerate() {
                if i != j {
                    basis = mul(basis, div(xj, xj ^ xs[i]));
                }
            }
            acc ^= mul(part[idx], basis);
        }
        *out = acc;
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_arithmetic_matches_known_values() {
        // From FIPS-197 section 4.2: {57} * {83} = {c1}
        assert_eq!(mul(0x57, 0x83), 0xc1);
        assert_eq!(mul(0x57, 0x13), 0xfe);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "inverse of {a}");
            assert_eq!(mul(a, 0), 0);
            assert_eq!(mul(a, 1), a);
        }
    }

    #[test]
    fn any_threshold_subset_rebuilds_and_fewer_do_not() {
        let secret: Vec<u8> = (0..32u8)
            .map(|i| i.wrapping_mul(37).wrapping_add(5))
            .collect();
        let shares = split(&secret, 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        assert!(shares.iter().all(|s| s.len() == 33));
        let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
        for a in 0..5 {
            for b in 0..5 {
                for c in 0..5 {
                    if a < b && b < c {
                        let got = combine(&[refs[a], refs[b], refs[c]]).unwrap();
                        assert_eq!(got.as_slice(), secret.as_slice());
                    }
                }
            }
        }
        // all five also work
        assert_eq!(combine(&refs).unwrap().as_slice(), secret.as_slice());
        // two of them do not rebuild it (overwhelmingly likely to differ for 32 bytes)
        assert_ne!(combine(&refs[..2]).unwrap().as_slice(), secret.as_slice());
    }

    #[test]
    fn a_tampered_share_gives_a_different_secret() {
        let secret = [7u8; 16];
        let shares = split(&secret, 3, 2).unwrap();
        let mut bad = shares[0].to_vec();
        bad[0] ^= 1;
        let got = combine(&[&bad, &shares[1]]).unwrap();
        assert_ne!(got.as_slice(), secret.as_slice());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert_eq!(split(b"x", 1, 1).unwrap_err(), ShamirError::BadParameters);
        assert_eq!(split(b"x", 3, 4).unwrap_err(), ShamirError::BadParameters);
        assert_eq!(split(b"x", 256, 2).unwrap_err(), ShamirError::BadParameters);
        assert_eq!(split(b"", 3, 2).unwrap_err(), ShamirError::EmptySecret);
        assert_eq!(combine(&[b"ab"]).unwrap_err(), ShamirError::TooFewParts);
        assert_eq!(combine(&[b"a", b"b"]).unwrap_err(), ShamirError::TooShort);
        assert_eq!(
            combine(&[b"abc", b"ab"]).unwrap_err(),
            ShamirError::LengthMismatch
        );
        assert_eq!(
            combine(&[b"ab", b"cb"]).unwrap_err(),
            ShamirError::DuplicatePart
        );
        assert_eq!(combine(&[&[], &[]]).unwrap_err(), ShamirError::TooShort);
    }
}
