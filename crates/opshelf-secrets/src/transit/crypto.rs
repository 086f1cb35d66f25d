//! What a key is used for: encrypt, decrypt, rewrap, data keys, HMACs, sign and verify; and
//! the keyless random bytes and hashes.

use base64::Engine as _;
use rand::RngCore;
use serde_json::{Map, Value, json};

use super::{
    B64, b64_field, digest, ed_signing, hmac_with, key_path, load, new_key, parse_ciphertext,
    raw32, save, str_field,
};
use crate::api::Reply;
use crate::error::{Error, Result};
use crate::util;
use crate::vault::{MountEntry, Unsealed, Vault};

/// `encrypt/:name` (creates the key on first use, like Vault's upsert).
pub(super) async fn encrypt(
    vault: &Vault,
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    d: &Map<String, Value>,
) -> Result<Reply> {
    let _g = vault.lock_key(&key_path(m, name)).await;
    let k = match load(u, m, name).await? {
        Some(k) => k,
        None => {
            // Vault creates the key on first encrypt (upsert)
            let k = new_key(name, "aes256-gcm96", &Map::new());
            save(u, m, &k).await?;
            k
        }
    };
    let plaintext = zeroize::Zeroizing::new(b64_field(d, "plaintext")?);
    let version = util::as_i64(d.get("key_version"))
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let ct = k.encrypt(version, &plaintext)?;
    let used = if version == 0 { k.latest } else { version };
    Ok(Reply::Data(
        json!({ "ciphertext": ct, "key_version": used }),
    ))
}

/// `decrypt/:name`.
pub(super) async fn decrypt(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    d: &Map<String, Value>,
) -> Result<Reply> {
    let Some(k) = load(u, m, name).await? else {
        return Err(Error::bad("encryption key not found"));
    };
    let pt = k.decrypt(str_field(d, "ciphertext"))?;
    Ok(Reply::Data(
        json!({ "plaintext": B64.encode(pt.as_slice()) }),
    ))
}

/// `rewrap/:name`: decrypt and encrypt again with the latest (or the given) version.
pub(super) async fn rewrap(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    d: &Map<String, Value>,
) -> Result<Reply> {
    let Some(k) = load(u, m, name).await? else {
        return Err(Error::bad("encryption key not found"));
    };
    let pt = k.decrypt(str_field(d, "ciphertext"))?;
    let version = util::as_i64(d.get("key_version"))
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(0);
    let ct = k.encrypt(version, &pt)?;
    Ok(Reply::Data(
        json!({ "ciphertext": ct, "key_version": if version == 0 { k.latest } else { version } }),
    ))
}

/// `datakey/{plaintext,wrapped}/:name`.
pub(super) async fn datakey(
    u: &Unsealed,
    m: &MountEntry,
    kind: &str,
    name: &str,
    d: &Map<String, Value>,
) -> Result<Reply> {
    if kind != "plaintext" && kind != "wrapped" {
        return Err(Error::bad(format!("invalid type \"{kind}\"")));
    }
    let Some(k) = load(u, m, name).await? else {
        return Err(Error::bad("encryption key not found"));
    };
    let bits = util::as_i64(d.get("bits")).unwrap_or(256);
    if ![128, 256, 512].contains(&bits) {
        return Err(Error::bad("invalid bits"));
    }
    let mut dk = zeroize::Zeroizing::new(vec![0u8; usize::try_from(bits / 8).unwrap_or(32)]);
    rand::rng().fill_bytes(&mut dk);
    let mut out = json!({ "ciphertext": k.encrypt(0, &dk)?, "key_version": k.latest });
    if kind == "plaintext" {
        out["plaintext"] = json!(B64.encode(dk.as_slice()));
    }
    Ok(Reply::Data(out))
}

/// `random[/:bytes][/:format]`; `args` are the path segments after `random`.
pub(super) fn random(args: &[&str], d: &Map<String, Value>) -> Result<Reply> {
    let n = args
        .iter()
        .find_map(|p| p.parse::<i64>().ok())
        .or_else(|| util::as_i64(d.get("bytes")))
        .unwrap_or(32);
    if !(1..=1024 * 1024).contains(&n) {
        return Err(Error::bad("bytes must be between 1 and 1048576"));
    }
    let format = args
        .iter()
        .find(|p| p.parse::<i64>().is_err())
        .copied()
        .unwrap_or(str_field(d, "format"));
    let mut buf = vec![0u8; usize::try_from(n).unwrap_or(32)];
    rand::rng().fill_bytes(&mut buf);
    let out = match format {
        "" | "base64" => B64.encode(&buf),
        "hex" => hex::encode(&buf),
        other => return Err(Error::bad(format!("unsupported encoding format {other}"))),
    };
    Ok(Reply::Data(json!({ "random_bytes": out })))
}

/// `hash[/:algorithm]`.
pub(super) fn hash(algorithm: Option<&str>, d: &Map<String, Value>) -> Result<Reply> {
    let algorithm = algorithm.unwrap_or(str_field(d, "algorithm"));
    let input = b64_field(d, "input")?;
    let sum = digest(algorithm, &input)?;
    let out = match str_field(d, "format") {
        "" | "hex" => hex::encode(&sum),
        "base64" => B64.encode(&sum),
        other => return Err(Error::bad(format!("unsupported encoding format {other}"))),
    };
    Ok(Reply::Data(json!({ "sum": out })))
}

/// `hmac/:name[/:algorithm]`.
pub(super) async fn hmac(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    algorithm: Option<&str>,
    d: &Map<String, Value>,
) -> Result<Reply> {
    let algorithm = algorithm.unwrap_or(str_field(d, "algorithm"));
    let Some(k) = load(u, m, name).await? else {
        return Err(Error::bad("encryption key not found"));
    };
    let version = util::as_i64(d.get("key_version"))
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(k.latest);
    let kv = k
        .versions
        .get(&version)
        .ok_or_else(|| Error::bad("invalid key version"))?;
    let key = raw32(&kv.hmac_key)?;
    let mac = hmac_with(algorithm, key.as_slice(), &b64_field(d, "input")?)?;
    Ok(Reply::Data(
        json!({ "hmac": format!("vault:v{version}:{}", B64.encode(mac)) }),
    ))
}

/// `sign/:name[/:algorithm]` (ed25519 keys).
pub(super) async fn sign(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    d: &Map<String, Value>,
) -> Result<Reply> {
    use ed25519_dalek::Signer as _;
    let Some(k) = load(u, m, name).await? else {
        return Err(Error::bad("signing key not found"));
    };
    if k.kind != "ed25519" {
        return Err(Error::bad(format!(
            "key type {} does not support signing",
            k.kind
        )));
    }
    let version = util::as_i64(d.get("key_version"))
        .and_then(|v| u32::try_from(v).ok())
        .unwrap_or(k.latest);
    let kv = k
        .versions
        .get(&version)
        .ok_or_else(|| Error::bad("invalid key version"))?;
    let sig = ed_signing(&kv.key)?.sign(&b64_field(d, "input")?);
    Ok(Reply::Data(json!({
        "signature": format!("vault:v{version}:{}", B64.encode(sig.to_bytes())),
        "key_version": version,
    })))
}

/// `verify/:name[/:algorithm]` (ed25519 keys).
pub(super) async fn verify(
    u: &Unsealed,
    m: &MountEntry,
    name: &str,
    d: &Map<String, Value>,
) -> Result<Reply> {
    use ed25519_dalek::Verifier as _;
    let Some(k) = load(u, m, name).await? else {
        return Err(Error::bad("signature verification key not found"));
    };
    if k.kind != "ed25519" {
        return Err(Error::bad(format!(
            "key type {} does not support verification",
            k.kind
        )));
    }
    let (version, raw) = parse_ciphertext(str_field(d, "signature"))?;
    let kv = k
        .versions
        .get(&version)
        .ok_or_else(|| Error::bad("invalid key version"))?;
    let valid = match ed25519_dalek::Signature::from_slice(&raw) {
        Ok(sig) => ed_signing(&kv.key)?
            .verifying_key()
            .verify(&b64_field(d, "input")?, &sig)
            .is_ok(),
        Err(_) => false,
    };
    Ok(Reply::Data(json!({ "valid": valid })))
}
