//! The transit secrets engine, symmetric keys only (`aes256-gcm96`): named keys with
//! versions, encrypt / decrypt with `vault:vN:` ciphertexts, rotate, rewrap, config, trim,
//! data keys, random bytes, hashes, HMACs, export and backup / restore.
//!
//! Asymmetric key types (sign / verify) are not implemented and are refused with 400.
//! Barrier layout under the mount: `policy/<name>` (the key with every version).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};
use zeroize::Zeroize;

mod crypto;
mod keys;

use crate::api::{Op, Reply};
use crate::barrier;
use crate::error::{Error, Result};
use crate::util;
use crate::vault::{MountEntry, Unsealed, Vault};

#[derive(Clone, Serialize, Deserialize)]
struct KeyVersion {
    key: String,
    hmac_key: String,
    time: i64,
}

impl Drop for KeyVersion {
    fn drop(&mut self) {
        self.key.zeroize();
        self.hmac_key.zeroize();
    }
}

fn default_kind() -> String {
    "aes256-gcm96".to_owned()
}

#[derive(Clone, Serialize, Deserialize)]
struct TransitKey {
    name: String,
    #[serde(default = "default_kind")]
    kind: String,
    versions: BTreeMap<u32, KeyVersion>,
    latest: u32,
    min_decryption_version: u32,
    min_encryption_version: u32,
    deletion_allowed: bool,
    exportable: bool,
    allow_plaintext_backup: bool,
    auto_rotate_period: i64,
}

fn new_version() -> KeyVersion {
    let k = barrier::random_key();
    let h = barrier::random_key();
    KeyVersion {
        key: B64.encode(k.as_slice()),
        hmac_key: B64.encode(h.as_slice()),
        time: util::now_secs(),
    }
}

fn raw32(b64: &str) -> Result<zeroize::Zeroizing<[u8; 32]>> {
    let v = zeroize::Zeroizing::new(
        B64.decode(b64)
            .map_err(|_| Error::Internal("transit key corrupt".into()))?,
    );
    let mut out = zeroize::Zeroizing::new([0u8; 32]);
    if v.len() != 32 {
        return Err(Error::Internal("transit key corrupt".into()));
    }
    out.copy_from_slice(&v);
    Ok(out)
}

impl TransitKey {
    fn json(&self) -> Value {
        let ed = self.kind == "ed25519";
        let keys: Map<String, Value> = self
            .versions
            .iter()
            .map(|(v, k)| {
                let shown = if ed {
                    json!({
                        "name": "ed25519",
                        "public_key": ed_public(&k.key).unwrap_or_default(),
                        "creation_time": util::rfc3339_nanos(i128::from(k.time) * 1_000_000_000),
                    })
                } else {
                    json!(k.time)
                };
                (v.to_string(), shown)
            })
            .collect();
        json!({
            "name": self.name,
            "type": self.kind,
            "keys": keys,
            "latest_version": self.latest,
            "min_available_version": self.versions.keys().next().copied().unwrap_or(0),
            "min_decryption_version": self.min_decryption_version,
            "min_encryption_version": self.min_encryption_version,
            "deletion_allowed": self.deletion_allowed,
            "exportable": self.exportable,
            "allow_plaintext_backup": self.allow_plaintext_backup,
            "auto_rotate_period": self.auto_rotate_period,
            "derived": false,
            "convergent_encryption": false,
            "imported_key": false,
            "supports_encryption": !ed,
            "supports_decryption": !ed,
            "supports_derivation": true,
            "supports_signing": ed,
        })
    }

    fn encrypt(&self, version: u32, plaintext: &[u8]) -> Result<String> {
        if self.kind != "aes256-gcm96" {
            return Err(Error::bad(format!(
                "key type {} does not support encryption",
                self.kind
            )));
        }
        let v = if version == 0 { self.latest } else { version };
        if v < self.min_encryption_version.max(1) || v > self.latest {
            return Err(Error::bad(
                "requested version for encryption is out of range",
            ));
        }
        let kv = self
            .versions
            .get(&v)
            .ok_or_else(|| Error::bad("key version not found"))?;
        let key = raw32(&kv.key)?;
        // transit ciphertexts carry no AAD; the barrier layout is reused minus its header
        let sealed = barrier::seal_with(&key, v, b"", plaintext);
        Ok(format!("vault:v{v}:{}", B64.encode(&sealed[5..])))
    }

    fn decrypt(&self, ciphertext: &str) -> Result<zeroize::Zeroizing<Vec<u8>>> {
        if self.kind != "aes256-gcm96" {
            return Err(Error::bad(format!(
                "key type {} does not support decryption",
                self.kind
            )));
        }
        let (v, body) = parse_ciphertext(ciphertext)?;
        if v < self.min_decryption_version.max(1) {
            return Err(Error::bad(
                "ciphertext or signature version is disallowed by policy (too old)",
            ));
        }
        let kv = self
            .versions
            .get(&v)
            .ok_or_else(|| Error::bad("invalid key version"))?;
        let key = raw32(&kv.key)?;
        let mut framed = Vec::with_capacity(body.len() + 5);
        framed.push(1);
        framed.extend_from_slice(&v.to_be_bytes());
        framed.extend_from_slice(&body);
        barrier::open_with(&key, b"", &framed)
            .map_err(|_| Error::bad("cipher: message authentication failed"))
    }
}

fn ed_signing(seed_b64: &str) -> Result<ed25519_dalek::SigningKey> {
    let seed = raw32(seed_b64)?;
    Ok(ed25519_dalek::SigningKey::from_bytes(&seed))
}

fn ed_public(seed_b64: &str) -> Result<String> {
    Ok(B64.encode(ed_signing(seed_b64)?.verifying_key().to_bytes()))
}

fn new_key(name: &str, kind: &str, d: &Map<String, Value>) -> TransitKey {
    let mut versions = BTreeMap::new();
    versions.insert(1, new_version());
    TransitKey {
        name: name.to_owned(),
        kind: kind.to_owned(),
        versions,
        latest: 1,
        min_decryption_version: 1,
        min_encryption_version: 0,
        deletion_allowed: false,
        exportable: util::as_bool(d.get("exportable")).unwrap_or(false),
        allow_plaintext_backup: util::as_bool(d.get("allow_plaintext_backup")).unwrap_or(false),
        auto_rotate_period: d
            .get("auto_rotate_period")
            .and_then(util::parse_duration)
            .unwrap_or(0),
    }
}

fn parse_ciphertext(c: &str) -> Result<(u32, Vec<u8>)> {
    let rest = c
        .strip_prefix("vault:v")
        .ok_or_else(|| Error::bad("invalid ciphertext: no prefix"))?;
    let (ver, b64) = rest
        .split_once(':')
        .ok_or_else(|| Error::bad("invalid ciphertext: wrong number of fields"))?;
    let v: u32 = ver
        .parse()
        .map_err(|_| Error::bad("invalid ciphertext: version number could not be decoded"))?;
    let body = B64
        .decode(b64)
        .map_err(|_| Error::bad("invalid ciphertext: could not decode base64"))?;
    Ok((v, body))
}

fn key_path(m: &MountEntry, name: &str) -> String {
    format!("{}policy/{name}", m.data_prefix())
}

async fn load(u: &Unsealed, m: &MountEntry, name: &str) -> Result<Option<TransitKey>> {
    u.get_json(&key_path(m, name)).await
}

async fn save(u: &Unsealed, m: &MountEntry, k: &TransitKey) -> Result<()> {
    u.put_json(&key_path(m, &k.name), k).await
}

fn str_field<'a>(d: &'a Map<String, Value>, k: &str) -> &'a str {
    d.get(k).and_then(Value::as_str).unwrap_or("")
}

fn b64_field(d: &Map<String, Value>, k: &str) -> Result<Vec<u8>> {
    B64.decode(str_field(d, k))
        .map_err(|_| Error::bad(format!("failed to base64-decode {k}")))
}

fn digest(algorithm: &str, input: &[u8]) -> Result<Vec<u8>> {
    Ok(match algorithm {
        "sha2-224" => Sha224::digest(input).to_vec(),
        "" | "sha2-256" => Sha256::digest(input).to_vec(),
        "sha2-384" => Sha384::digest(input).to_vec(),
        "sha2-512" => Sha512::digest(input).to_vec(),
        other => return Err(Error::bad(format!("unsupported hash algorithm {other}"))),
    })
}

fn hmac_with(algorithm: &str, key: &[u8], input: &[u8]) -> Result<Vec<u8>> {
    macro_rules! mac {
        ($h:ty) => {{
            let mut m =
                <Hmac<$h>>::new_from_slice(key).map_err(|_| Error::Internal("hmac key".into()))?;
            m.update(input);
            m.finalize().into_bytes().to_vec()
        }};
    }
    Ok(match algorithm {
        "sha2-224" => mac!(Sha224),
        "" | "sha2-256" => mac!(Sha256),
        "sha2-384" => mac!(Sha384),
        "sha2-512" => mac!(Sha512),
        other => return Err(Error::bad(format!("unsupported algorithm {other}"))),
    })
}

/// Serve a transit request on `m`; `rest` is the path relative to the mount.
pub async fn route(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    op: Op,
    rest: &str,
    d: &Map<String, Value>,
) -> Result<Reply> {
    let write = matches!(op, Op::Create | Op::Update);
    let parts: Vec<&str> = rest.split('/').collect();
    match (parts.as_slice(), op) {
        (["keys"] | ["keys", ""], Op::List) => keys::list_keys(u, m).await,
        (["keys", name], Op::Read) => keys::read_key(vault, u, m, name).await,
        (["keys", name], Op::Create | Op::Update) => keys::create_key(vault, u, m, name, d).await,
        (["keys", name], Op::Delete) => keys::delete_key(vault, u, m, name).await,
        (["keys", _], _) => Err(Error::UnsupportedOperation),
        (["keys", name, "rotate"], _) if write => {
            keys::change_key(vault, u, m, name, keys::rotate_key).await
        }
        (["keys", name, "config"], _) if write => {
            keys::change_key(vault, u, m, name, |k| keys::configure_key(k, d)).await
        }
        (["keys", name, "trim"], _) if write => {
            keys::change_key(vault, u, m, name, |k| keys::trim_key(k, d)).await
        }
        (["keys", name, _], _) if write => {
            keys::change_key(vault, u, m, name, |_| Err(Error::UnsupportedOperation)).await
        }
        (["encrypt", name], _) if write => crypto::encrypt(vault, u, m, name, d).await,
        (["decrypt", name], _) if write => crypto::decrypt(u, m, name, d).await,
        (["rewrap", name], _) if write => crypto::rewrap(u, m, name, d).await,
        (["datakey", kind, name], _) if write => crypto::datakey(u, m, kind, name, d).await,
        (["random"] | ["random", _] | ["random", _, _], _) if write => {
            crypto::random(&parts[1..], d)
        }
        (["hash"] | ["hash", _], _) if write => crypto::hash(parts.get(1).copied(), d),
        (["hmac", name] | ["hmac", name, _], _) if write => {
            crypto::hmac(u, m, name, parts.get(2).copied(), d).await
        }
        (["export", kind, name] | ["export", kind, name, _], Op::Read) => {
            keys::export_key(u, m, kind, name, parts.get(3).copied()).await
        }
        (["backup", name], Op::Read) => keys::backup_key(u, m, name).await,
        (["restore"] | ["restore", _], _) if write => {
            keys::restore_key(u, m, parts.get(1).copied(), d).await
        }
        (["sign", name] | ["sign", name, _], _) if write => crypto::sign(u, m, name, d).await,
        (["verify", name] | ["verify", name, _], _) if write => crypto::verify(u, m, name, d).await,
        _ => Err(Error::NotFoundMsg(format!(
            "no handler for route \"{}{rest}\". route entry not found.",
            m.path
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> TransitKey {
        let mut versions = BTreeMap::new();
        versions.insert(1, new_version());
        TransitKey {
            name: "k".into(),
            kind: default_kind(),
            versions,
            latest: 1,
            min_decryption_version: 1,
            min_encryption_version: 0,
            deletion_allowed: false,
            exportable: false,
            allow_plaintext_backup: false,
            auto_rotate_period: 0,
        }
    }

    #[test]
    fn ciphertexts_round_trip_across_rotation() {
        let mut k = key();
        let c1 = k.encrypt(0, b"hello").unwrap();
        assert!(c1.starts_with("vault:v1:"));
        k.latest = 2;
        k.versions.insert(2, new_version());
        let c2 = k.encrypt(0, b"hello").unwrap();
        assert!(c2.starts_with("vault:v2:"));
        assert_eq!(k.decrypt(&c1).unwrap().as_slice(), b"hello");
        assert_eq!(k.decrypt(&c2).unwrap().as_slice(), b"hello");
        k.min_decryption_version = 2;
        assert!(k.decrypt(&c1).is_err());
        assert!(k.decrypt("vault:v2:@@@").is_err());
        assert!(k.decrypt("nope").is_err());
        assert!(k.decrypt("vault:vX:AAAA").is_err());
        let mut tampered = c2.clone();
        tampered.pop();
        tampered.push('A');
        assert!(k.decrypt(&tampered).is_err() || tampered == c2);
    }

    #[test]
    fn ed25519_keys_sign_and_refuse_encryption() {
        use ed25519_dalek::{Signer as _, Verifier as _};
        let k = new_key("s", "ed25519", &Map::new());
        assert!(k.encrypt(0, b"x").is_err());
        let kv = &k.versions[&1];
        let sig = ed_signing(&kv.key).unwrap().sign(b"msg");
        let public = ed_signing(&kv.key).unwrap().verifying_key();
        assert!(public.verify(b"msg", &sig).is_ok());
        assert!(public.verify(b"other", &sig).is_err());
        assert_eq!(
            k.json()["keys"]["1"]["public_key"].as_str().unwrap().len(),
            44
        );
    }

    #[test]
    fn hashes_and_hmacs() {
        assert_eq!(
            hex::encode(digest("sha2-256", b"").unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(digest("meow2-256", b"").is_err());
        assert_eq!(hmac_with("sha2-512", b"k", b"x").unwrap().len(), 64);
        assert!(hmac_with("md5", b"k", b"x").is_err());
    }
}
