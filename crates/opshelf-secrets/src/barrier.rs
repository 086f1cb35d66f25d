//! The cryptographic barrier: AES-256-GCM with a random 96-bit nonce and the storage path
//! as associated data, under a keyring of numbered terms (rotation adds a term; old terms
//! stay for reading). The keyring is encrypted by the root key; the root key by the unseal
//! key (Shamir-split, or read from an auto-unseal key file).
//!
//! Pure code: no I/O. Ciphertext layout: `0x01 | term (u32 BE) | nonce (12) | ct+tag`.

use std::collections::BTreeMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

const VERSION: u8 = 1;
const HEADER: usize = 1 + 4 + 12;

/// A 256-bit key, zeroized on drop.
pub type Key = Zeroizing<[u8; 32]>;

/// Why a decrypt failed. Carries no key or plaintext material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BarrierError {
    #[error("ciphertext too short or of an unknown version")]
    Malformed,
    #[error("no key for term {0}")]
    UnknownTerm(u32),
    #[error("message authentication failed")]
    Auth,
    #[error("keyring is corrupt")]
    Keyring,
}

/// A fresh random key.
#[must_use]
pub fn random_key() -> Key {
    let mut k = Zeroizing::new([0u8; 32]);
    rand::rng().fill_bytes(k.as_mut_slice());
    k
}

/// Encrypt `plaintext` with `key`, binding it to `aad` and `term`.
#[must_use]
pub fn seal_with(key: &[u8; 32], term: u32, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let cipher = Aes256Gcm::new(key.into());
    let mut nonce = [0u8; 12];
    rand::rng().fill_bytes(&mut nonce);
    let mut full_aad = Vec::with_capacity(aad.len() + 4);
    full_aad.extend_from_slice(&term.to_be_bytes());
    full_aad.extend_from_slice(aad);
    // Encryption with a valid key and nonce length cannot fail for in-memory buffers.
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &full_aad,
            },
        )
        .unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&term.to_be_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

/// The term a ciphertext was written under.
///
/// # Errors
/// When the bytes are not a barrier ciphertext.
pub fn term_of(ciphertext: &[u8]) -> Result<u32, BarrierError> {
    if ciphertext.len() < HEADER + 16 || ciphertext[0] != VERSION {
        return Err(BarrierError::Malformed);
    }
    Ok(u32::from_be_bytes([
        ciphertext[1],
        ciphertext[2],
        ciphertext[3],
        ciphertext[4],
    ]))
}

/// Decrypt what [`seal_with`] produced, checking `aad`.
///
/// # Errors
/// Malformed input or a failed tag check (wrong key, wrong path, tampering).
pub fn open_with(
    key: &[u8; 32],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
    let term = term_of(ciphertext)?;
    let cipher = Aes256Gcm::new(key.into());
    let mut full_aad = Vec::with_capacity(aad.len() + 4);
    full_aad.extend_from_slice(&term.to_be_bytes());
    full_aad.extend_from_slice(aad);
    let nonce = Nonce::from_slice(&ciphertext[5..HEADER]);
    cipher
        .decrypt(
            nonce,
            Payload {
                msg: &ciphertext[HEADER..],
                aad: &full_aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| BarrierError::Auth)
}

/// The data-encryption keys, by term, plus the root key that protects them.
pub struct Keyring {
    keys: BTreeMap<u32, Key>,
    active: u32,
    install_times: BTreeMap<u32, String>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize, Deserialize)]
struct KeyringWire {
    active: u32,
    keys: Vec<KeyWire>,
}

#[derive(Serialize, Deserialize)]
struct KeyWire {
    term: u32,
    key: String,
    install_time: String,
}

impl Drop for KeyWire {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl Keyring {
    /// A keyring with one fresh key at term 1.
    #[must_use]
    pub fn new(now: &str) -> Self {
        let mut keys = BTreeMap::new();
        keys.insert(1, random_key());
        let mut install_times = BTreeMap::new();
        install_times.insert(1, now.to_owned());
        Self {
            keys,
            active: 1,
            install_times,
        }
    }

    /// The term new writes use.
    #[must_use]
    pub fn active_term(&self) -> u32 {
        self.active
    }

    /// When the active term was installed (RFC 3339).
    #[must_use]
    pub fn active_install_time(&self) -> &str {
        self.install_times
            .get(&self.active)
            .map_or("", String::as_str)
    }

    /// Add a new term and make it active; earlier terms remain for decryption.
    pub fn rotate(&mut self, now: &str) -> u32 {
        let term = self.active + 1;
        self.keys.insert(term, random_key());
        self.install_times.insert(term, now.to_owned());
        self.active = term;
        term
    }

    /// Encrypt a value stored at `path`.
    #[must_use]
    pub fn encrypt(&self, path: &str, plaintext: &[u8]) -> Vec<u8> {
        let key = &self.keys[&self.active];
        seal_with(key, self.active, path.as_bytes(), plaintext)
    }

    /// Decrypt a value read from `path`.
    ///
    /// # Errors
    /// Unknown term, malformed bytes or a failed tag (including a value moved to another path).
    pub fn decrypt(
        &self,
        path: &str,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, BarrierError> {
        let term = term_of(ciphertext)?;
        let key = self
            .keys
            .get(&term)
            .ok_or(BarrierError::UnknownTerm(term))?;
        open_with(key, path.as_bytes(), ciphertext)
    }

    /// The keyring as bytes, for encryption under the root key.
    #[must_use]
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let wire = KeyringWire {
            active: self.active,
            keys: self
                .keys
                .iter()
                .map(|(term, key)| KeyWire {
                    term: *term,
                    key: B64.encode(key.as_slice()),
                    install_time: self.install_times.get(term).cloned().unwrap_or_default(),
                })
                .collect(),
        };
        Zeroizing::new(serde_json::to_vec(&wire).unwrap_or_default())
    }

    /// Parse what [`Keyring::to_bytes`] wrote.
    ///
    /// # Errors
    /// When the bytes are not a keyring.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, BarrierError> {
        let wire: KeyringWire = serde_json::from_slice(bytes).map_err(|_| BarrierError::Keyring)?;
        let mut keys = BTreeMap::new();
        let mut install_times = BTreeMap::new();
        for k in &wire.keys {
            let raw = Zeroizing::new(B64.decode(&k.key).map_err(|_| BarrierError::Keyring)?);
            if raw.len() != 32 {
                return Err(BarrierError::Keyring);
            }
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(&raw);
            keys.insert(k.term, key);
            install_times.insert(k.term, k.install_time.clone());
        }
        if !keys.contains_key(&wire.active) {
            return Err(BarrierError::Keyring);
        }
        Ok(Self {
            keys,
            active: wire.active,
            install_times,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_binds_the_path() {
        let ring = Keyring::new("t0");
        let ct = ring.encrypt("logical/a", b"hunter2");
        assert!(!ct.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            ring.decrypt("logical/a", &ct).unwrap().as_slice(),
            b"hunter2"
        );
        assert_eq!(
            ring.decrypt("logical/b", &ct).unwrap_err(),
            BarrierError::Auth
        );
        let mut tampered = ct.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            ring.decrypt("logical/a", &tampered).unwrap_err(),
            BarrierError::Auth
        );
        // same plaintext twice: different nonces
        assert_ne!(ring.encrypt("logical/a", b"hunter2"), ct);
    }

    #[test]
    fn rotation_keeps_old_values_readable_and_survives_serialisation() {
        let mut ring = Keyring::new("t0");
        let old = ring.encrypt("p", b"old");
        assert_eq!(ring.rotate("t1"), 2);
        let new = ring.encrypt("p", b"new");
        assert_eq!(term_of(&old).unwrap(), 1);
        assert_eq!(term_of(&new).unwrap(), 2);
        let bytes = ring.to_bytes();
        let back = Keyring::from_bytes(&bytes).unwrap();
        assert_eq!(back.active_term(), 2);
        assert_eq!(back.decrypt("p", &old).unwrap().as_slice(), b"old");
        assert_eq!(back.decrypt("p", &new).unwrap().as_slice(), b"new");
        assert_eq!(back.active_install_time(), "t1");
    }

    #[test]
    fn wrong_key_and_garbage_fail_cleanly() {
        let k1 = random_key();
        let k2 = random_key();
        let ct = seal_with(&k1, 0, b"core/root-key", b"root");
        assert_eq!(
            open_with(&k2, b"core/root-key", &ct).unwrap_err(),
            BarrierError::Auth
        );
        assert_eq!(
            open_with(&k1, b"x", &[]).unwrap_err(),
            BarrierError::Malformed
        );
        assert_eq!(
            open_with(&k1, b"x", &[9u8; 64]).unwrap_err(),
            BarrierError::Malformed
        );
        let ring = Keyring::new("t");
        let mut foreign = ring.encrypt("p", b"v");
        foreign[4] = 9;
        assert_eq!(
            ring.decrypt("p", &foreign).unwrap_err(),
            BarrierError::UnknownTerm(9)
        );
        assert!(Keyring::from_bytes(b"{").is_err());
    }
}
