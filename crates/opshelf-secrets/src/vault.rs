//! The stateful core: seal state, the barrier over opshelf-core storage (with an in-memory
//! cache of ciphertexts), init / unseal / seal / key rotation, the mount tables and the
//! policy store. Tokens live in `tokens.rs`, the engines in `kv.rs`.
//!
//! Storage layout (namespace `secrets`):
//! - `core/seal-config`  plaintext JSON (shares, threshold) — not secret
//! - `core/cluster`      plaintext JSON (cluster name and id)
//! - `core/root-key`     root key, AES-GCM under the unseal key (AAD = the key path)
//! - `core/keyring`      keyring, AES-GCM under the root key
//! - everything else     AES-GCM under the keyring's active term, AAD = the key path:
//!   `core/mounts`, `core/auth`, `core/token-salt`, `sys/policy/<name>`, `sys/token/...`,
//!   `logical/<mount uuid>/...`

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use opshelf_core::storage::{StorageView, TxnOp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::barrier::{self, Key, Keyring};
use crate::error::{Error, Result};
use crate::policy::{self, Acl, Policy};
use crate::tokens::TokenEntry;
use crate::{Config, shamir, util};

const SEAL_CONFIG: &str = "core/seal-config";
const CLUSTER: &str = "core/cluster";
const ROOT_KEY: &str = "core/root-key";
const KEYRING: &str = "core/keyring";
const MOUNTS: &str = "core/mounts";
const AUTH_MOUNTS: &str = "core/auth";
const TOKEN_SALT: &str = "core/token-salt";
pub(crate) const AUDIT: &str = "core/audit";
const AUDIT_CONFIG_SALT: &str = "core/audit-config-salt";
const CACHE_LIMIT: usize = 200_000;
const LOCK_STRIPES: usize = 64;

/// The version opshelf reports as (the Vault API level it implements).
pub const VERSION: &str = "1.17.0";

/// The seal configuration chosen at `sys/init`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct SealConfig {
    pub secret_shares: usize,
    pub secret_threshold: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ClusterInfo {
    name: String,
    id: String,
}

/// A mounted secrets engine or auth method.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MountEntry {
    /// with trailing slash: `secret/`
    pub path: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub description: String,
    pub accessor: String,
    pub uuid: String,
    pub options: HashMap<String, String>,
    pub default_lease_ttl: i64,
    pub max_lease_ttl: i64,
    pub local: bool,
    pub seal_wrap: bool,
}

impl MountEntry {
    pub(crate) fn new(
        path: &str,
        kind: &str,
        description: &str,
        options: HashMap<String, String>,
    ) -> Self {
        let short = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Self {
            path: path.to_owned(),
            kind: kind.to_owned(),
            description: description.to_owned(),
            accessor: format!("{}_{short}", kind.replace('-', "_")),
            uuid: uuid::Uuid::new_v4().to_string(),
            options,
            default_lease_ttl: 0,
            max_lease_ttl: 0,
            local: false,
            seal_wrap: false,
        }
    }

    /// KV version of this mount: 2 for `kv` with `version=2`, else 1.
    #[must_use]
    pub fn kv_version(&self) -> u8 {
        if self.kind == "kv" && self.options.get("version").map(String::as_str) == Some("2") {
            2
        } else {
            1
        }
    }

    /// Where this mount's data lives in the barrier.
    #[must_use]
    pub fn data_prefix(&self) -> String {
        format!("logical/{}/", self.uuid)
    }

    /// The entry as `sys/mounts` shows it.
    #[must_use]
    pub fn to_json(&self) -> Value {
        let options = if self.options.is_empty() && self.kind != "kv" {
            Value::Null
        } else {
            json!(self.options)
        };
        json!({
            "accessor": self.accessor,
            "config": {
                "default_lease_ttl": self.default_lease_ttl,
                "force_no_cache": false,
                "max_lease_ttl": self.max_lease_ttl,
            },
            "deprecation_status": "supported",
            "description": self.description,
            "external_entropy_access": false,
            "local": self.local,
            "options": options,
            "plugin_version": "",
            "running_plugin_version": format!("v{VERSION}+builtin.opshelf"),
            "running_sha256": "",
            "seal_wrap": self.seal_wrap,
            "type": self.kind,
            "uuid": self.uuid,
        })
    }
}

#[derive(Default)]
struct UnsealProgress {
    shares: Vec<Zeroizing<Vec<u8>>>,
    nonce: String,
}

/// What exists only while unsealed: the keyring and the caches. Dropped (and its keys
/// zeroized) on seal.
pub struct Unsealed {
    storage: StorageView,
    keyring: RwLock<Keyring>,
    root_key: Key,
    cache: Mutex<HashMap<String, Option<Arc<[u8]>>>>,
    pub(crate) token_salt: String,
    pub(crate) mounts: RwLock<Vec<MountEntry>>,
    pub(crate) auth_mounts: RwLock<Vec<MountEntry>>,
    policies: RwLock<HashMap<String, Arc<Policy>>>,
    pub(crate) tokens: Mutex<HashMap<String, Option<Arc<TokenEntry>>>>,
    pub(crate) audit: RwLock<Vec<Arc<crate::audit::Device>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
pub(crate) fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}
pub(crate) fn write<T>(m: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(PoisonError::into_inner)
}
pub(crate) fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock(m)
}

impl Unsealed {
    /// Decrypted value at barrier `path`.
    pub async fn get(&self, path: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let cached = lock(&self.cache).get(path).cloned();
        let ct = match cached {
            Some(c) => c,
            None => {
                let raw: Option<Arc<[u8]>> = self.storage.get(path).await?.map(Arc::from);
                let mut cache = lock(&self.cache);
                if cache.len() >= CACHE_LIMIT {
                    cache.clear();
                }
                cache.insert(path.to_owned(), raw.clone());
                raw
            }
        };
        match ct {
            None => Ok(None),
            Some(ct) => {
                let ring = read(&self.keyring);
                ring.decrypt(path, &ct)
                    .map(Some)
                    .map_err(|e| Error::Internal(format!("barrier {path}: {e}")))
            }
        }
    }

    /// Decrypted JSON at `path`.
    pub async fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<Option<T>> {
        match self.get(path).await? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Internal(format!("{path}: {e}"))),
        }
    }

    fn seal_value(&self, path: &str, plaintext: &[u8]) -> Vec<u8> {
        read(&self.keyring).encrypt(path, plaintext)
    }

    /// Encrypt and write `plaintext` at `path`.
    pub async fn put(&self, path: &str, plaintext: &[u8]) -> Result<()> {
        let ct = self.seal_value(path, plaintext);
        // drop the cached copy first so a failed write cannot leave a stale entry behind
        lock(&self.cache).remove(path);
        self.storage.put(path, &ct).await?;
        lock(&self.cache).insert(path.to_owned(), Some(Arc::from(ct)));
        Ok(())
    }

    /// Serialise and write JSON.
    pub async fn put_json<T: Serialize>(&self, path: &str, value: &T) -> Result<()> {
        let bytes =
            Zeroizing::new(serde_json::to_vec(value).map_err(|e| Error::Internal(e.to_string()))?);
        self.put(path, &bytes).await
    }

    /// Remove `path`.
    pub async fn delete(&self, path: &str) -> Result<bool> {
        lock(&self.cache).remove(path);
        let existed = self.storage.delete(path).await?;
        lock(&self.cache).insert(path.to_owned(), None);
        Ok(existed)
    }

    /// Write several values and deletions all-or-nothing.
    pub async fn write_batch(&self, puts: &[(String, Vec<u8>)], deletes: &[String]) -> Result<()> {
        let mut ops = Vec::with_capacity(puts.len() + deletes.len());
        let mut sealed = Vec::with_capacity(puts.len());
        for (path, plain) in puts {
            let ct = self.seal_value(path, plain);
            sealed.push((path.clone(), ct.clone()));
            ops.push(TxnOp::Put {
                key: path.clone(),
                value: ct,
            });
        }
        for d in deletes {
            ops.push(TxnOp::Delete { key: d.clone() });
        }
        {
            let mut cache = lock(&self.cache);
            for (p, _) in &sealed {
                cache.remove(p);
            }
            for d in deletes {
                cache.remove(d);
            }
        }
        self.storage.transaction(&ops).await?;
        let mut cache = lock(&self.cache);
        for (p, ct) in sealed {
            cache.insert(p, Some(Arc::from(ct)));
        }
        for d in deletes {
            cache.insert(d.clone(), None);
        }
        Ok(())
    }

    /// Keys under `prefix` (full keys).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.storage.list(prefix).await?)
    }

    /// Delete everything under `prefix`.
    pub async fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let keys = self.list(prefix).await?;
        for chunk in keys.chunks(500) {
            let ops: Vec<TxnOp> = chunk
                .iter()
                .map(|k| TxnOp::Delete { key: k.clone() })
                .collect();
            self.storage.transaction(&ops).await?;
        }
        let mut cache = lock(&self.cache);
        cache.retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }

    /// The policy named `name` (built-ins included).
    pub async fn policy(&self, name: &str) -> Result<Option<Arc<Policy>>> {
        if let Some(p) = read(&self.policies).get(name) {
            return Ok(Some(Arc::clone(p)));
        }
        if name == "root" {
            return Ok(None);
        }
        let raw: Option<String> = self.get_json(&format!("sys/policy/{name}")).await?;
        let text = match (raw, name) {
            (Some(t), _) => t,
            (None, "default") => policy::DEFAULT_POLICY.to_owned(),
            (None, _) => return Ok(None),
        };
        let parsed =
            Arc::new(policy::parse(name, &text).map_err(|e| Error::Internal(e.to_string()))?);
        write(&self.policies).insert(name.to_owned(), Arc::clone(&parsed));
        Ok(Some(parsed))
    }

    /// Store a policy (already validated).
    pub async fn put_policy(&self, p: Policy) -> Result<()> {
        self.put_json(&format!("sys/policy/{}", p.name), &p.raw)
            .await?;
        write(&self.policies).insert(p.name.clone(), Arc::new(p));
        Ok(())
    }

    /// Remove a policy.
    pub async fn delete_policy(&self, name: &str) -> Result<()> {
        self.delete(&format!("sys/policy/{name}")).await?;
        write(&self.policies).remove(name);
        Ok(())
    }

    /// Names of stored policies plus the built-ins, sorted.
    pub async fn policy_names(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = self
            .list("sys/policy/")
            .await?
            .into_iter()
            .filter_map(|k| k.strip_prefix("sys/policy/").map(str::to_owned))
            .collect();
        for b in ["default", "root"] {
            if !names.iter().any(|n| n == b) {
                names.push(b.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// The ACL for a set of policy names.
    pub async fn acl(&self, names: &[String]) -> Result<Acl> {
        let root = names.iter().any(|n| n == "root");
        let mut loaded = Vec::new();
        if !root {
            for n in names {
                if let Some(p) = self.policy(n).await? {
                    loaded.push(p);
                }
            }
        }
        let refs: Vec<&Policy> = loaded.iter().map(AsRef::as_ref).collect();
        Ok(Acl::new(&refs, root))
    }

    /// Persist the secrets-engine mount table.
    pub async fn save_mounts(&self) -> Result<()> {
        let table = read(&self.mounts).clone();
        self.put_json(MOUNTS, &table).await
    }

    /// Persist the auth mount table.
    pub async fn save_auth_mounts(&self) -> Result<()> {
        let table = read(&self.auth_mounts).clone();
        self.put_json(AUTH_MOUNTS, &table).await
    }

    /// The deepest secrets mount that is a prefix of `path`.
    #[must_use]
    pub fn mount_for(&self, path: &str) -> Option<MountEntry> {
        let mounts = read(&self.mounts);
        let mut best: Option<&MountEntry> = None;
        for m in mounts.iter() {
            let base = m.path.trim_end_matches('/');
            let hit = path == base || path.starts_with(&m.path);
            if hit && best.is_none_or(|b| m.path.len() > b.path.len()) {
                best = Some(m);
            }
        }
        best.cloned()
    }

    /// The auth mount that is a prefix of `path` (relative to `auth/`).
    #[must_use]
    pub fn auth_mount_for(&self, path: &str) -> Option<MountEntry> {
        let mounts = read(&self.auth_mounts);
        let mut best: Option<&MountEntry> = None;
        for m in mounts.iter() {
            let base = m.path.trim_end_matches('/');
            let hit = path == base || path.starts_with(&m.path);
            if hit && best.is_none_or(|b| m.path.len() > b.path.len()) {
                best = Some(m);
            }
        }
        best.cloned()
    }

    /// The keyring's active term and its install time.
    #[must_use]
    pub fn key_status(&self) -> (u32, String) {
        let ring = read(&self.keyring);
        (ring.active_term(), ring.active_install_time().to_owned())
    }

    /// Add a keyring term, persist the keyring. Earlier values stay readable.
    pub async fn rotate(&self) -> Result<u32> {
        let now = util::rfc3339_nanos(util::now_nanos());
        let (term, ct) = {
            let mut ring = write(&self.keyring);
            let term = ring.rotate(&now);
            let bytes = ring.to_bytes();
            (
                term,
                barrier::seal_with(&self.root_key, 0, KEYRING.as_bytes(), &bytes),
            )
        };
        self.storage.put(KEYRING, &ct).await?;
        Ok(term)
    }
}

/// The whole secrets service.
pub struct Vault {
    pub(crate) storage: StorageView,
    pub(crate) config: Config,
    pub(crate) data_dir: PathBuf,
    state: RwLock<Option<Arc<Unsealed>>>,
    progress: Mutex<UnsealProgress>,
    cluster: RwLock<Option<ClusterInfo>>,
    stripes: Vec<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("sealed", &self.unsealed().is_none())
            .finish_non_exhaustive()
    }
}

/// Result of `sys/init`.
pub struct InitOutput {
    pub keys: Vec<Zeroizing<Vec<u8>>>,
    pub unseal_key: Zeroizing<Vec<u8>>,
    pub root_token: Zeroizing<String>,
}

impl Vault {
    /// A sealed service over `storage`.
    pub async fn new(config: Config, storage: StorageView, data_dir: PathBuf) -> Result<Self> {
        let cluster = match storage.get(CLUSTER).await? {
            Some(raw) => serde_json::from_slice(&raw).ok(),
            None => None,
        };
        Ok(Self {
            storage,
            config,
            data_dir,
            state: RwLock::new(None),
            progress: Mutex::new(UnsealProgress::default()),
            cluster: RwLock::new(cluster),
            stripes: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        })
    }

    /// Default token TTL in seconds.
    #[must_use]
    pub fn default_ttl(&self) -> i64 {
        util::parse_duration_str(&self.config.default_lease_ttl).unwrap_or(768 * 3600)
    }

    /// Maximum token TTL in seconds (0 = none).
    #[must_use]
    pub fn max_ttl(&self) -> i64 {
        util::parse_duration_str(&self.config.max_lease_ttl).unwrap_or(768 * 3600)
    }

    /// The unsealed state, if unsealed.
    #[must_use]
    pub fn unsealed(&self) -> Option<Arc<Unsealed>> {
        read(&self.state).clone()
    }

    /// The unsealed state, or `Error::Sealed`.
    pub fn require_unsealed(&self) -> Result<Arc<Unsealed>> {
        self.unsealed().ok_or(Error::Sealed)
    }

    /// A lock serialising writers of one logical key.
    pub async fn lock_key(&self, key: &str) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let idx = (h.finish() as usize) % self.stripes.len();
        self.stripes[idx].lock().await
    }

    /// The stored seal configuration (present once initialised).
    pub async fn seal_config(&self) -> Result<Option<SealConfig>> {
        match self.storage.get(SEAL_CONFIG).await? {
            Some(raw) => Ok(serde_json::from_slice(&raw).ok()),
            None => Ok(None),
        }
    }

    /// Cluster name and id (empty before init).
    #[must_use]
    pub fn cluster(&self) -> (String, String) {
        read(&self.cluster)
            .as_ref()
            .map(|c| (c.name.clone(), c.id.clone()))
            .unwrap_or_default()
    }

    /// Unseal progress: (shares so far, nonce).
    #[must_use]
    pub fn progress(&self) -> (usize, String) {
        let p = lock(&self.progress);
        (p.shares.len(), p.nonce.clone())
    }

    /// `sys/init`: create the root key and keyring, split the unseal key, create a root
    /// token, mount the defaults. Leaves the service sealed (like Vault).
    pub async fn initialize(&self, shares: usize, threshold: usize) -> Result<InitOutput> {
        if shares == 0 || threshold == 0 {
            return Err(Error::bad(
                "invalid seal configuration: secret shares and threshold must be greater than zero",
            ));
        }
        if threshold > shares {
            return Err(Error::bad(
                "invalid seal configuration: threshold cannot be larger than shares",
            ));
        }
        if shares > 1 && threshold < 2 {
            return Err(Error::bad(
                "invalid seal configuration: threshold must be greater than one for multiple shares",
            ));
        }
        if shares > 255 {
            return Err(Error::bad(
                "invalid seal configuration: shares must be less than 256",
            ));
        }
        if self.storage.get(SEAL_CONFIG).await?.is_some() {
            return Err(Error::bad("Vault is already initialized"));
        }
        let unseal_key = barrier::random_key();
        let root_key = barrier::random_key();
        let now = util::rfc3339_nanos(util::now_nanos());
        let ring = Keyring::new(&now);
        let root_ct = barrier::seal_with(&unseal_key, 0, ROOT_KEY.as_bytes(), root_key.as_slice());
        let ring_ct = barrier::seal_with(&root_key, 0, KEYRING.as_bytes(), &ring.to_bytes());
        let keys = if shares == 1 {
            vec![Zeroizing::new(unseal_key.to_vec())]
        } else {
            shamir::split(unseal_key.as_slice(), shares, threshold)
                .map_err(|e| Error::bad(e.to_string()))?
        };
        let cluster = ClusterInfo {
            name: format!(
                "vault-cluster-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            id: uuid::Uuid::new_v4().to_string(),
        };
        let seal = SealConfig {
            secret_shares: shares,
            secret_threshold: threshold,
        };
        let seal_json = serde_json::to_vec(&seal).map_err(|e| Error::Internal(e.to_string()))?;
        let cluster_json =
            serde_json::to_vec(&cluster).map_err(|e| Error::Internal(e.to_string()))?;
        let ok = self
            .storage
            .transaction(&[
                TxnOp::Check {
                    key: SEAL_CONFIG.to_owned(),
                    expected: None,
                },
                TxnOp::Put {
                    key: ROOT_KEY.to_owned(),
                    value: root_ct,
                },
                TxnOp::Put {
                    key: KEYRING.to_owned(),
                    value: ring_ct,
                },
                TxnOp::Put {
                    key: CLUSTER.to_owned(),
                    value: cluster_json,
                },
                TxnOp::Put {
                    key: SEAL_CONFIG.to_owned(),
                    value: seal_json,
                },
            ])
            .await?;
        if !ok {
            return Err(Error::bad("Vault is already initialized"));
        }
        *write(&self.cluster) = Some(cluster);
        // Set up the initial state once, then seal again (Vault's init leaves it sealed).
        let u = self.open_with_root_key(root_key, ring).await?;
        let mut tables_dirty = false;
        if read(&u.mounts).is_empty() {
            let mut m = write(&u.mounts);
            m.push(MountEntry::new(
                "cubbyhole/",
                "cubbyhole",
                "per-token private secret storage",
                HashMap::new(),
            ));
            m.push(MountEntry::new(
                "identity/",
                "identity",
                "identity store",
                HashMap::new(),
            ));
            m.push(MountEntry::new(
                "sys/",
                "system",
                "system endpoints used for control, policy and debugging",
                HashMap::new(),
            ));
            tables_dirty = true;
        }
        if read(&u.auth_mounts).is_empty() {
            write(&u.auth_mounts).push(MountEntry::new(
                "token/",
                "token",
                "token based credentials",
                HashMap::new(),
            ));
            tables_dirty = true;
        }
        if tables_dirty {
            u.save_mounts().await?;
            u.save_auth_mounts().await?;
        }
        let root_token = crate::tokens::create_root(&u, None).await?;
        if let Some(path) = &self.config.unseal_key_file {
            crate::write_key_file(path, unseal_key.as_slice())?;
        }
        Ok(InitOutput {
            keys,
            unseal_key: Zeroizing::new(unseal_key.to_vec()),
            root_token,
        })
    }

    async fn open_with_root_key(&self, root_key: Key, ring: Keyring) -> Result<Arc<Unsealed>> {
        let mut u = Unsealed {
            storage: self.storage.clone(),
            keyring: RwLock::new(ring),
            root_key,
            cache: Mutex::new(HashMap::new()),
            token_salt: String::new(),
            mounts: RwLock::new(Vec::new()),
            auth_mounts: RwLock::new(Vec::new()),
            policies: RwLock::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            audit: RwLock::new(Vec::new()),
        };
        u.token_salt = match u.get_json::<String>(TOKEN_SALT).await? {
            Some(s) => s,
            None => {
                let s = opshelf_core::token::new_salt();
                u.put_json(TOKEN_SALT, &s).await?;
                s
            }
        };
        let mounts: Vec<MountEntry> = u.get_json(MOUNTS).await?.unwrap_or_default();
        let auth: Vec<MountEntry> = u.get_json(AUTH_MOUNTS).await?.unwrap_or_default();
        *write(&u.mounts) = mounts;
        *write(&u.auth_mounts) = auth;
        let mut devices: Vec<crate::audit::DeviceConfig> =
            u.get_json(AUDIT).await?.unwrap_or_default();
        if let Some(path) = &self.config.audit_file {
            let salt = match u.get_json::<String>(AUDIT_CONFIG_SALT).await? {
                Some(s) => s,
                None => {
                    let s = opshelf_core::token::new_salt();
                    u.put_json(AUDIT_CONFIG_SALT, &s).await?;
                    s
                }
            };
            devices.push(crate::audit::DeviceConfig {
                path: "opshelf-config/".to_owned(),
                kind: "file".to_owned(),
                description: "from opshelf.toml [secrets] audit_file".to_owned(),
                file_path: path.display().to_string(),
                salt,
                local: true,
            });
        }
        let mut opened = Vec::new();
        for d in devices {
            let path = d.path.clone();
            match crate::audit::Device::open(d) {
                Ok(dev) => opened.push(Arc::new(dev)),
                Err(e) => {
                    tracing::error!(device = %path, error = %e, "audit device cannot open its file");
                }
            }
        }
        *write(&u.audit) = opened;
        Ok(Arc::new(u))
    }

    /// Unseal with the whole unseal key (auto-unseal, dev mode, or a combined set of shares).
    pub async fn unseal_with_key(&self, unseal_key: &[u8]) -> Result<()> {
        if unseal_key.len() != 32 {
            return Err(Error::bad(
                "Error unsealing: the unseal key has the wrong length",
            ));
        }
        let root_ct = self
            .storage
            .get(ROOT_KEY)
            .await?
            .ok_or(Error::NotInitialized)?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(unseal_key);
        let root_raw = barrier::open_with(&key, ROOT_KEY.as_bytes(), &root_ct)
            .map_err(|_| Error::bad("Error unsealing: cipher: message authentication failed"))?;
        if root_raw.len() != 32 {
            return Err(Error::Internal("root key has the wrong length".to_owned()));
        }
        let mut root_key = Zeroizing::new([0u8; 32]);
        root_key.copy_from_slice(&root_raw);
        let ring_ct = self
            .storage
            .get(KEYRING)
            .await?
            .ok_or(Error::Internal("keyring missing".to_owned()))?;
        let ring_raw = barrier::open_with(&root_key, KEYRING.as_bytes(), &ring_ct)
            .map_err(|e| Error::Internal(format!("keyring: {e}")))?;
        let ring = Keyring::from_bytes(&ring_raw).map_err(|e| Error::Internal(e.to_string()))?;
        let u = self.open_with_root_key(root_key, ring).await?;
        *write(&self.state) = Some(u);
        Ok(())
    }

    /// `sys/unseal` with one share (hex or base64). `Ok(())` whether or not this share
    /// completed the set; a wrong set resets progress and errs.
    pub async fn submit_share(&self, share: &str) -> Result<()> {
        let cfg = self
            .seal_config()
            .await?
            .ok_or(Error::bad("Vault is not initialized"))?;
        if self.unsealed().is_some() {
            return Ok(());
        }
        let decoded = hex::decode(share)
            .ok()
            .or_else(|| B64.decode(share).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| Error::bad("'key' must be a valid hex or base64 string"))?;
        let expected_len = if cfg.secret_shares == 1 { 32 } else { 33 };
        if decoded.len() != expected_len {
            return Err(Error::bad("Error unsealing: invalid key length"));
        }
        let full: Vec<Zeroizing<Vec<u8>>> = {
            let mut p = lock(&self.progress);
            if p.shares.iter().any(|s| s.as_slice() == decoded.as_slice()) {
                return Ok(());
            }
            if p.shares.is_empty() {
                p.nonce = uuid::Uuid::new_v4().to_string();
            }
            p.shares.push(decoded);
            if p.shares.len() < cfg.secret_threshold {
                return Ok(());
            }
            let taken = std::mem::take(&mut p.shares);
            p.nonce.clear();
            taken
        };
        let key = if cfg.secret_threshold == 1 {
            Zeroizing::new(full[0].to_vec())
        } else {
            let refs: Vec<&[u8]> = full.iter().map(|s| s.as_slice()).collect();
            shamir::combine(&refs).map_err(|e| Error::bad(format!("Error unsealing: {e}")))?
        };
        self.unseal_with_key(&key).await
    }

    /// Forget the shares submitted so far.
    pub fn reset_progress(&self) {
        let mut p = lock(&self.progress);
        p.shares.clear();
        p.nonce.clear();
    }

    /// Seal: drop the keyring and every cache.
    pub fn seal(&self) {
        *write(&self.state) = None;
        self.reset_progress();
    }
}
