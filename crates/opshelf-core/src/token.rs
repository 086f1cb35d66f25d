//! Bearer tokens: generated from the OS RNG, stored only as salted SHA-256 hashes, compared
//! in constant time. Capabilities keep the hash, never the token.

use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A fresh random token: `prefix` followed by 32 random bytes in hex.
#[must_use]
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// A random 16-byte salt, hex-encoded.
#[must_use]
pub fn new_salt() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `hex(sha256(salt || token))`: what is stored.
#[must_use]
pub fn hash(salt: &str, token: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(token.as_bytes());
    hex::encode(h.finalize())
}

/// Whether `token` hashes (with `salt`) to `stored_hash`, compared in constant time.
#[must_use]
pub fn verify(salt: &str, token: &str, stored_hash: &str) -> bool {
    let computed = hash(salt, token);
    computed.as_bytes().ct_eq(stored_hash.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_right_token() {
        let salt = new_salt();
        let t = generate("s.");
        assert!(t.starts_with("s.") && t.len() == 66);
        let h = hash(&salt, &t);
        assert!(!h.contains(&t));
        assert!(verify(&salt, &t, &h));
        assert!(!verify(&salt, "s.wrong", &h));
        assert!(!verify(&new_salt(), &t, &h));
        assert_ne!(generate("s."), t);
    }
}
