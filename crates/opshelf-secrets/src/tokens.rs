//! The token store: tokens are kept only as salted SHA-256 hashes (opshelf-core's
//! `token::hash`), looked up by hash and re-verified in constant time; accessors index the
//! same entries; parent → child links make revocation recursive. Expiry is checked on
//! every use and swept in the background.
//!
//! Barrier layout: `sys/token/id/<hash>` (entry), `sys/token/accessor/<hash(accessor)>`
//! (→ token hash), `sys/token/parent/<parent hash>/<child hash>` (empty).

use std::collections::HashMap;
use std::sync::Arc;

use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::util;
use crate::vault::{Unsealed, guard};

/// A stored token (never the token itself).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenEntry {
    pub hash: String,
    pub accessor: String,
    pub policies: Vec<String>,
    pub meta: Option<HashMap<String, String>>,
    pub display_name: String,
    pub num_uses: i64,
    pub creation_time: i64,
    pub creation_ttl: i64,
    /// unix seconds; 0 = never
    pub expire_time: i64,
    pub explicit_max_ttl: i64,
    pub period: i64,
    pub renewable: bool,
    pub orphan: bool,
    pub parent: Option<String>,
    pub path: String,
    pub issue_time: String,
    pub token_type: String,
    pub entity_id: String,
    #[serde(default)]
    pub last_renewal_time: i64,
}

impl TokenEntry {
    /// Whether the token has passed its expiry.
    #[must_use]
    pub fn expired(&self, now: i64) -> bool {
        self.expire_time != 0 && self.expire_time <= now
    }

    /// Seconds left (0 for non-expiring tokens).
    #[must_use]
    pub fn ttl(&self, now: i64) -> i64 {
        if self.expire_time == 0 {
            0
        } else {
            (self.expire_time - now).max(0)
        }
    }

    /// The TTL granted when the token was issued or last renewed — what Vault answers as
    /// `lease_duration` (not the seconds left, which depend on when the clock is read).
    #[must_use]
    pub fn granted_ttl(&self) -> i64 {
        if self.expire_time == 0 {
            return 0;
        }
        let issued = self.creation_time.max(self.last_renewal_time);
        (self.expire_time - issued).max(0)
    }

    /// Whether the entry carries the root policy.
    #[must_use]
    pub fn is_root(&self) -> bool {
        self.policies.iter().any(|p| p == "root")
    }

    /// Vault's `auth/token/lookup` data. `id` is the token when the caller supplied it.
    #[must_use]
    pub fn lookup_json(&self, id: &str) -> Value {
        let now = util::now_secs();
        let expire = if self.expire_time == 0 {
            Value::Null
        } else {
            json!(util::rfc3339_nanos(
                i128::from(self.expire_time) * 1_000_000_000
            ))
        };
        let mut v = json!({
            "accessor": self.accessor,
            "creation_time": self.creation_time,
            "creation_ttl": self.creation_ttl,
            "display_name": self.display_name,
            "entity_id": self.entity_id,
            "expire_time": expire,
            "explicit_max_ttl": self.explicit_max_ttl,
            "id": id,
            "issue_time": self.issue_time,
            "meta": self.meta,
            "num_uses": self.num_uses,
            "orphan": self.orphan,
            "path": self.path,
            "policies": self.policies,
            "renewable": self.renewable,
            "ttl": self.ttl(now),
            "type": self.token_type,
        });
        if self.period > 0 {
            v["period"] = json!(self.period);
        }
        if self.last_renewal_time > 0 {
            v["last_renewal_time"] = json!(self.last_renewal_time);
            v["last_renewal"] = json!(util::rfc3339_nanos(
                i128::from(self.last_renewal_time) * 1_000_000_000
            ));
        }
        v
    }

    /// Vault's `auth` block for a freshly issued token.
    #[must_use]
    pub fn auth_json(&self, token: &str) -> Value {
        let token_policies: Vec<&String> = self.policies.iter().collect();
        json!({
            "client_token": token,
            "accessor": self.accessor,
            "policies": self.policies,
            "token_policies": token_policies,
            "metadata": self.meta,
            "lease_duration": self.granted_ttl(),
            "renewable": self.renewable,
            "entity_id": self.entity_id,
            "token_type": self.token_type,
            "orphan": self.orphan,
            "mfa_requirement": Value::Null,
            "num_uses": self.num_uses,
        })
    }
}

fn id_key(hash: &str) -> String {
    format!("sys/token/id/{hash}")
}
fn accessor_key(u: &Unsealed, accessor: &str) -> String {
    format!(
        "sys/token/accessor/{}",
        opshelf_core::token::hash(&u.token_salt, accessor)
    )
}
fn parent_key(parent: &str, child: &str) -> String {
    format!("sys/token/parent/{parent}/{child}")
}

/// Hash a presented token with the install salt.
#[must_use]
pub fn hash_token(u: &Unsealed, token: &str) -> String {
    opshelf_core::token::hash(&u.token_salt, token)
}

fn random_accessor() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// What a new token should look like.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub id: Option<String>,
    pub policies: Vec<String>,
    pub meta: Option<HashMap<String, String>>,
    pub display_name: String,
    pub num_uses: i64,
    pub ttl: i64,
    pub explicit_max_ttl: i64,
    pub period: i64,
    pub renewable: bool,
    pub parent: Option<String>,
    pub path: String,
    pub token_type: String,
}

/// Store a new token; returns the token string (shown once) and its entry.
pub async fn store_new(u: &Unsealed, req: TokenRequest) -> Result<(Zeroizing<String>, TokenEntry)> {
    let token = Zeroizing::new(
        req.id
            .clone()
            .unwrap_or_else(|| opshelf_core::token::generate("hvs.")),
    );
    let hash = hash_token(u, &token);
    if u.get(&id_key(&hash)).await?.is_some() {
        return Err(Error::bad("cannot create a token with a duplicate ID"));
    }
    let now = util::now_secs();
    let ttl = if req.period > 0 { req.period } else { req.ttl };
    let entry = TokenEntry {
        hash: hash.clone(),
        accessor: random_accessor(),
        policies: req.policies,
        meta: req.meta,
        display_name: req.display_name,
        num_uses: req.num_uses,
        creation_time: now,
        creation_ttl: ttl,
        expire_time: if ttl > 0 { now + ttl } else { 0 },
        explicit_max_ttl: req.explicit_max_ttl,
        period: req.period,
        renewable: req.renewable && ttl > 0,
        orphan: req.parent.is_none(),
        parent: req.parent.clone(),
        path: req.path,
        issue_time: util::rfc3339_nanos(util::now_nanos()),
        token_type: if req.token_type.is_empty() {
            "service".to_owned()
        } else {
            req.token_type
        },
        entity_id: String::new(),
        last_renewal_time: 0,
    };
    let entry_json = serde_json::to_vec(&entry).map_err(|e| Error::Internal(e.to_string()))?;
    let mut puts = vec![
        (id_key(&hash), entry_json),
        (
            accessor_key(u, &entry.accessor),
            serde_json::to_vec(&hash).map_err(|e| Error::Internal(e.to_string()))?,
        ),
    ];
    if let Some(p) = &req.parent {
        puts.push((parent_key(p, &hash), b"{}".to_vec()));
    }
    u.write_batch(&puts, &[]).await?;
    guard(&u.tokens).insert(hash, Some(Arc::new(entry.clone())));
    Ok((token, entry))
}

/// Create a root token (at init, or the dev root token with a chosen id).
pub async fn create_root(u: &Unsealed, id: Option<&str>) -> Result<Zeroizing<String>> {
    let req = TokenRequest {
        id: id.map(str::to_owned),
        policies: vec!["root".to_owned()],
        display_name: "root".to_owned(),
        path: "auth/token/root".to_owned(),
        ..TokenRequest::default()
    };
    Ok(store_new(u, req).await?.0)
}

/// The entry for `hash`, if it exists and has not expired (an expired one is revoked).
pub async fn by_hash(u: &Unsealed, hash: &str) -> Result<Option<Arc<TokenEntry>>> {
    let cached = guard(&u.tokens).get(hash).cloned();
    let entry = match cached {
        Some(e) => e,
        None => {
            let e: Option<TokenEntry> = u.get_json(&id_key(hash)).await?;
            let e = e.map(Arc::new);
            guard(&u.tokens).insert(hash.to_owned(), e.clone());
            e
        }
    };
    let Some(entry) = entry else { return Ok(None) };
    if entry.expired(util::now_secs()) {
        revoke_tree(u, hash).await?;
        return Ok(None);
    }
    Ok(Some(entry))
}

/// Look a presented token up (hash, then a constant-time check of the stored hash).
pub async fn lookup(u: &Unsealed, token: &str) -> Result<Option<Arc<TokenEntry>>> {
    if token.is_empty() {
        return Ok(None);
    }
    let hash = hash_token(u, token);
    let entry = by_hash(u, &hash).await?;
    Ok(entry.filter(|e| opshelf_core::token::verify(&u.token_salt, token, &e.hash)))
}

/// Look a token up by accessor.
pub async fn by_accessor(u: &Unsealed, accessor: &str) -> Result<Option<Arc<TokenEntry>>> {
    let hash: Option<String> = u.get_json(&accessor_key(u, accessor)).await?;
    match hash {
        Some(h) => by_hash(u, &h).await,
        None => Ok(None),
    }
}

async fn save(u: &Unsealed, entry: TokenEntry) -> Result<Arc<TokenEntry>> {
    u.put_json(&id_key(&entry.hash), &entry).await?;
    let arc = Arc::new(entry);
    guard(&u.tokens).insert(arc.hash.clone(), Some(Arc::clone(&arc)));
    Ok(arc)
}

/// Count one use of a limited-use token; revoke it after its last use.
pub async fn record_use(u: &Unsealed, entry: &TokenEntry) -> Result<()> {
    if entry.num_uses <= 0 {
        return Ok(());
    }
    if entry.num_uses == 1 {
        return revoke_tree(u, &entry.hash).await;
    }
    let mut e = entry.clone();
    e.num_uses -= 1;
    save(u, e).await?;
    Ok(())
}

async fn remove_one(u: &Unsealed, hash: &str) -> Result<()> {
    let entry: Option<TokenEntry> = u.get_json(&id_key(hash)).await?;
    let mut deletes = vec![id_key(hash)];
    if let Some(e) = &entry {
        deletes.push(accessor_key(u, &e.accessor));
        if let Some(p) = &e.parent {
            deletes.push(parent_key(p, hash));
        }
    }
    u.write_batch(&[], &deletes).await?;
    guard(&u.tokens).insert(hash.to_owned(), None);
    Ok(())
}

async fn children(u: &Unsealed, hash: &str) -> Result<Vec<String>> {
    let prefix = format!("sys/token/parent/{hash}/");
    Ok(u.list(&prefix)
        .await?
        .into_iter()
        .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned))
        .collect())
}

/// Revoke a token and, recursively, every token it created.
pub async fn revoke_tree(u: &Unsealed, hash: &str) -> Result<()> {
    let mut stack = vec![hash.to_owned()];
    let mut order = Vec::new();
    while let Some(h) = stack.pop() {
        for c in children(u, &h).await? {
            stack.push(c);
        }
        order.push(h);
    }
    for h in order.iter().rev() {
        remove_one(u, h).await?;
    }
    Ok(())
}

/// Revoke a token but keep its children, which become orphans.
pub async fn revoke_orphan(u: &Unsealed, hash: &str) -> Result<()> {
    for c in children(u, hash).await? {
        if let Some(child) = by_hash(u, &c).await? {
            let mut e = (*child).clone();
            e.parent = None;
            e.orphan = true;
            save(u, e).await?;
        }
        u.delete(&parent_key(hash, &c)).await?;
    }
    remove_one(u, hash).await
}

/// Extend a token's life. `increment` 0 means "its original TTL".
pub async fn renew(
    u: &Unsealed,
    entry: &TokenEntry,
    increment: i64,
    max_lease_ttl: i64,
) -> Result<Arc<TokenEntry>> {
    if !entry.renewable {
        return Err(Error::bad("lease is not renewable"));
    }
    let now = util::now_secs();
    let mut ttl = if entry.period > 0 {
        entry.period
    } else if increment > 0 {
        increment
    } else {
        entry.creation_ttl
    };
    if entry.period == 0 {
        let mut max = max_lease_ttl;
        if entry.explicit_max_ttl > 0 && (max == 0 || entry.explicit_max_ttl < max) {
            max = entry.explicit_max_ttl;
        }
        if max > 0 {
            let remaining = entry.creation_time + max - now;
            ttl = ttl.min(remaining.max(0));
        }
    } else if entry.explicit_max_ttl > 0 {
        ttl = ttl.min((entry.creation_time + entry.explicit_max_ttl - now).max(0));
    }
    let mut e = entry.clone();
    e.expire_time = if ttl > 0 { now + ttl } else { e.expire_time };
    e.last_renewal_time = now;
    save(u, e).await
}

/// Revoke every expired token. Returns how many were removed.
pub async fn sweep(u: &Unsealed) -> Result<usize> {
    let now = util::now_secs();
    let mut n = 0;
    for key in u.list("sys/token/id/").await? {
        let Some(hash) = key.strip_prefix("sys/token/id/") else {
            continue;
        };
        let entry: Option<TokenEntry> = u.get_json(&key).await?;
        if entry.is_some_and(|e| e.expired(now)) {
            revoke_tree(u, hash).await?;
            n += 1;
        }
    }
    Ok(n)
}

/// How many tokens the store holds (what Vault's `sys/internal/counters/tokens` reports).
pub async fn count(u: &Unsealed) -> Result<usize> {
    Ok(u.list("sys/token/id/").await?.len())
}

/// Accessors of every live token.
pub async fn accessors(u: &Unsealed) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for key in u.list("sys/token/id/").await? {
        let entry: Option<TokenEntry> = u.get_json(&key).await?;
        if let Some(e) = entry {
            out.push(e.accessor);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod unit {
    use super::TokenEntry;

    fn entry(creation_time: i64, expire_time: i64, last_renewal_time: i64) -> TokenEntry {
        TokenEntry {
            hash: String::new(),
            accessor: String::new(),
            policies: vec![],
            meta: None,
            display_name: String::new(),
            num_uses: 0,
            creation_time,
            creation_ttl: expire_time - creation_time,
            expire_time,
            explicit_max_ttl: 0,
            period: 0,
            renewable: true,
            orphan: true,
            parent: None,
            path: String::new(),
            issue_time: String::new(),
            token_type: "service".to_owned(),
            entity_id: String::new(),
            last_renewal_time,
        }
    }

    #[test]
    fn lease_duration_is_the_granted_ttl_whenever_it_is_read() {
        // Issued at 1000 for 5m: 300 however late the response is built (a busy machine
        // used to answer 299).
        assert_eq!(entry(1000, 1300, 0).granted_ttl(), 300);
        // Renewed at 1200 for 10m.
        assert_eq!(entry(1000, 1800, 1200).granted_ttl(), 600);
        // Never expires.
        assert_eq!(entry(1000, 0, 0).granted_ttl(), 0);
    }
}
