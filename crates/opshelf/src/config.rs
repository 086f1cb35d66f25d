//! `opshelf.toml`: loading, environment overrides, validation and the commented example.
//!
//! Pipeline: file (optional) → TOML table → `OPSHELF_<SECTION>__<KEY>` / `OPSHELF_<KEY>`
//! overrides → typed [`Config`] (every struct `deny_unknown_fields`) → `validate()`.
//! Every error names the key, where its value came from (file or variable) and what was
//! expected, on one line.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use opshelf_core::Capability;
use opshelf_core::config::ConfigError;
use opshelf_core::storage::StorageConfig;
use serde::{Deserialize, Serialize};

use crate::capabilities::{Registry, Section};

/// The whole configuration: the sections the binary owns, and one per registered
/// capability (type-erased; [`Config::section`] gives it back typed).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where opshelf keeps its state (the SQLite file, audit logs, the advisory DB).
    pub data_dir: PathBuf,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub server: ServerConfig,
    pub storage: StorageConfig,
    /// `[<capability>]` sections by capability name.
    pub sections: BTreeMap<&'static str, Box<dyn Section>>,
}

/// The part of the file the binary itself owns.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct CoreSections {
    data_dir: PathBuf,
    log: LogConfig,
    admin: AdminConfig,
    server: ServerConfig,
    storage: StorageConfig,
}

impl Default for CoreSections {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            log: LogConfig::default(),
            admin: AdminConfig::default(),
            server: ServerConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

impl Config {
    /// Every default, for the capabilities in `registry`.
    #[must_use]
    pub fn defaults(registry: &Registry) -> Self {
        Self::from_parts(CoreSections::default(), registry.default_sections())
    }

    fn from_parts(core: CoreSections, sections: BTreeMap<&'static str, Box<dyn Section>>) -> Self {
        Self {
            data_dir: core.data_dir,
            log: core.log,
            admin: core.admin,
            server: core.server,
            storage: core.storage,
            sections,
        }
    }

    /// Capability `C`'s settings (`None` when `C` is not registered).
    #[must_use]
    pub fn section<C: Capability>(&self) -> Option<&C::Config> {
        // `&**s`: the boxed value, not the box (a box is a `Section` too).
        self.sections
            .get(C::NAME)
            .and_then(|s| (**s).as_any().downcast_ref::<C::Config>())
    }

    /// Capability `C`'s settings, mutable.
    pub fn section_mut<C: Capability>(&mut self) -> Option<&mut C::Config> {
        self.sections
            .get_mut(C::NAME)
            .and_then(|s| (**s).as_any_mut().downcast_mut::<C::Config>())
    }
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, `debug`, `opshelf_secrets=debug,info`, ...
    pub level: String,
    /// `human` or `json`; `--log-format` wins over this.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
            format: LogFormat::Human,
        }
    }
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Human,
    Json,
}

/// `[admin]`: health, readiness and metrics.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub listen: SocketAddr,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9464)),
        }
    }
}

/// `[server]`: what applies to every listener.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// On SIGTERM/SIGINT, in-flight requests get this long to finish.
    pub shutdown_grace_secs: u64,
    /// A request still running after this many seconds is answered 503.
    pub request_timeout_secs: u64,
    /// A connection must send a complete request head within this many seconds (from
    /// connect, and between keep-alive requests). Vault's `http_read_header_timeout`.
    pub header_read_timeout_secs: u64,
    /// A connection on which nothing moves for this many seconds is closed (nginx's
    /// `keepalive_timeout` is 75 s).
    pub idle_timeout_secs: u64,
    /// Open connections per listener at most (0: no cap); past it new ones are refused.
    pub max_connections: usize,
    /// Open connections per listener from one client address at most (0: no cap). The
    /// WAF has its own default (`[waf] max_connections_per_ip`).
    pub max_connections_per_ip: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            shutdown_grace_secs: 10,
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 75,
            max_connections: 4096,
            max_connections_per_ip: 0,
        }
    }
}

/// The commented example for the sections the binary itself owns.
const CORE_EXAMPLE: &str = r#"# opshelf.toml — every setting with its default value.
# Each setting can be overridden by an environment variable: OPSHELF_<SECTION>__<KEY>
# (e.g. OPSHELF_SECRETS__LISTEN=127.0.0.1:18200), top-level keys as OPSHELF_<KEY>
# (e.g. OPSHELF_DATA_DIR=/var/lib/opshelf).

# Where opshelf keeps its state: the SQLite database, audit logs, the advisory database.
data_dir = "./data"

[log]
# A tracing filter: "info", "debug", "opshelf_secrets=debug,info", ...
level = "info"
# "human" or "json" (the --log-format flag wins).
format = "human"

[admin]
# /healthz, /readyz, /status (JSON: every listener and capability) and /metrics
# (Prometheus) are served here.
listen = "127.0.0.1:9464"

[server]
# On SIGTERM/SIGINT, stop accepting and give in-flight requests this long to finish.
shutdown_grace_secs = 10
# A request still running after this many seconds is answered 503.
request_timeout_secs = 30
# A connection must send a whole request head within this many seconds, from connect and
# between keep-alive requests (Vault's http_read_header_timeout: 10 s).
header_read_timeout_secs = 10
# A connection on which no byte moves for this long is closed (nginx's keepalive_timeout).
idle_timeout_secs = 75
# Open connections per listener at most (0 = no cap); past it new connections are refused.
max_connections = 4096
# Per client address, per listener (0 = no cap; the WAF sets its own, see [waf]).
max_connections_per_ip = 0

[storage]
# Unset: embedded SQLite at <data_dir>/opshelf.sqlite3 (no setup).
# Set to a PostgreSQL URL to share state between several opshelf nodes:
# url = "postgres://opshelf@127.0.0.1:5432/opshelf"
# SQLite commit durability: "full" (fsync every commit) or "normal" (survives a crash of
# the process, may lose the last commits on power loss).
sync = "full"
# PostgreSQL connection-pool size (default 16).
# pool_size = 16
"#;

/// `opshelf config example`: the core sections and every registered capability's section.
#[must_use]
pub fn example(registry: &Registry) -> String {
    let mut out = CORE_EXAMPLE.to_owned();
    for c in registry.iter() {
        out.push('\n');
        out.push_str(c.example().trim_end());
        out.push('\n');
    }
    out
}

/// Environment variables with the `OPSHELF_` prefix that are not settings.
/// `OPSHELF_UPLOAD_TOKEN` is `opshelf scan --upload`'s token (a flag's value, not a setting).
const NOT_SETTINGS: &[&str] = &["OPSHELF_BIN", "OPSHELF_LOG", "OPSHELF_UPLOAD_TOKEN"];

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    File(PathBuf),
    Env(String),
    /// A command-line flag (`--dev`).
    Flag(&'static str),
    Default,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::File(p) => write!(f, "{}", p.display()),
            Self::Env(var) => write!(f, "environment variable {var}"),
            Self::Flag(flag) => write!(f, "the {flag} flag"),
            Self::Default => write!(f, "the built-in defaults"),
        }
    }
}

/// A configuration that could not be loaded; `Display` is the one-line message.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// A loaded configuration and where each overridden key came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// `section.key` → the variable that set it.
    pub env_keys: BTreeMap<String, String>,
    /// `section.key` → the command-line flag that set it.
    pub flag_keys: BTreeMap<String, &'static str>,
}

impl Loaded {
    /// Where the value of `key` (`"secrets.listen"`) came from.
    #[must_use]
    pub fn origin(&self, key: &str) -> Origin {
        origin_of(key, &self.env_keys, &self.flag_keys, self.file.as_ref())
    }
}

fn origin_of(
    key: &str,
    env_keys: &BTreeMap<String, String>,
    flag_keys: &BTreeMap<String, &'static str>,
    file: Option<&PathBuf>,
) -> Origin {
    if let Some(flag) = flag_keys.get(key) {
        return Origin::Flag(flag);
    }
    if let Some(var) = env_keys.get(key) {
        return Origin::Env(var.clone());
    }
    match file {
        Some(f) => Origin::File(f.clone()),
        None => Origin::Default,
    }
}

/// A setting given on the command line (`serve --dev` sets `secrets.dev`).
#[derive(Debug, Clone)]
pub struct FlagSetting {
    /// `section.key`
    pub key: &'static str,
    pub value: toml::Value,
    /// The flag, for error messages (`--dev`).
    pub flag: &'static str,
}

/// Deserialize `value` as `T`; where a key's value came from an environment variable that
/// was typed as TOML (`8`, `true`) and the key wants a string, retry with the raw string
/// (`retry_as_string(key)` gives it). The error is (key, message).
pub(crate) fn parse_section<T: serde::de::DeserializeOwned>(
    value: toml::Value,
    retry_as_string: &dyn Fn(&str) -> Option<String>,
) -> Result<T, (String, String)> {
    let mut value = value;
    let mut retried = std::collections::BTreeSet::new();
    loop {
        match serde_path_to_error::deserialize::<_, T>(value.clone()) {
            Ok(c) => return Ok(c),
            Err(e) => {
                let key = e.path().to_string();
                if let Some(raw) = retry_as_string(&key).filter(|_| retried.len() < 16)
                    && retried.insert(key.clone())
                {
                    if let toml::Value::Table(t) = &mut value {
                        let parts: Vec<String> = key.split('.').map(str::to_owned).collect();
                        set_key(t, &parts, toml::Value::String(raw));
                    }
                    continue;
                }
                return Err((key, e.into_inner().to_string()));
            }
        }
    }
}

/// Load `path` (a missing file is fine unless `explicit`), apply the `OPSHELF_*` variables
/// and command-line `flags`, parse every section (the binary's own and each capability's in
/// `registry`), apply the replaced tools' own variables, validate.
///
/// # Errors
/// A one-line [`LoadError`] naming the key or variable, the file, variable or flag it came
/// from, and what was expected.
pub fn load(
    registry: &Registry,
    path: &Path,
    explicit: bool,
    env: impl IntoIterator<Item = (String, String)>,
    flags: &[FlagSetting],
) -> Result<Loaded, LoadError> {
    let env: Vec<(String, String)> = env.into_iter().collect();
    let (mut table, file) = match std::fs::read_to_string(path) {
        Ok(text) => {
            let table: toml::Table = toml::from_str(&text).map_err(|e| {
                LoadError(format!(
                    "{}: invalid TOML: {}",
                    path.display(),
                    one_line(&e.to_string())
                ))
            })?;
            (table, Some(path.to_owned()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            (toml::Table::new(), None)
        }
        Err(e) => return Err(LoadError(format!("{}: cannot read: {e}", path.display()))),
    };

    // Environment overrides. Values are typed as TOML when they parse as a TOML value
    // (true, 8, "x"), else taken as strings; a typed value the key rejects is retried as
    // the raw string (so OPSHELF_FLAGS__SOME_SECRET=12345 works for a string key).
    let mut env_keys = BTreeMap::new();
    let mut raw = BTreeMap::new();
    for (var, value) in &env {
        let Some(name) = var.strip_prefix("OPSHELF_") else {
            continue;
        };
        if NOT_SETTINGS.contains(&var.as_str()) || name.is_empty() {
            continue;
        }
        let parts: Vec<String> = name.split("__").map(str::to_ascii_lowercase).collect();
        let key = match parts.as_slice() {
            [key] => key.clone(),
            [section, key] => format!("{section}.{key}"),
            _ => {
                return Err(LoadError(format!(
                    "environment variable {var}: expected OPSHELF_<KEY> or OPSHELF_<SECTION>__<KEY>"
                )));
            }
        };
        set_key(&mut table, &parts, typed(value));
        if !matches!(typed(value), toml::Value::String(_)) {
            raw.insert(key.clone(), value.clone());
        }
        env_keys.insert(key, var.clone());
    }
    let mut flag_keys = BTreeMap::new();
    for f in flags {
        let parts: Vec<String> = f.key.split('.').map(str::to_owned).collect();
        set_key(&mut table, &parts, f.value.clone());
        flag_keys.insert(f.key.to_owned(), f.flag);
        raw.remove(f.key);
    }
    let origin = |key: &str| origin_of(key, &env_keys, &flag_keys, file.as_ref());
    let fail = |section: &str, (key, message): (String, String)| {
        let full = match (section, key.as_str()) {
            ("", k) => k.to_owned(),
            (s, "" | ".") => s.to_owned(),
            (s, k) => format!("{s}.{k}"),
        };
        LoadError(describe(
            &origin(&full),
            &full,
            &message,
            &registry.not_built,
        ))
    };

    // Each capability's section.
    let mut sections = BTreeMap::new();
    for c in registry.iter() {
        let name = c.name();
        let value = table
            .remove(name)
            .unwrap_or_else(|| toml::Value::Table(toml::Table::new()));
        let retry = |key: &str| raw.get(&format!("{name}.{key}")).cloned();
        let section = c.parse(value, &retry).map_err(|e| fail(name, e))?;
        sections.insert(name, section);
    }
    // The binary's own sections; anything else left over is unknown (or not built).
    let retry = |key: &str| raw.get(key).cloned();
    let core: CoreSections =
        parse_section(toml::Value::Table(table), &retry).map_err(|e| fail("", e))?;
    let mut config = Config::from_parts(core, sections);

    // The replaced tools' own variables (VAULT_DEV_ROOT_TOKEN_ID, INIT_*_API_TOKENS, ...).
    let env = opshelf_core::Env::new(env);
    for c in registry.iter() {
        if let Some(section) = config.sections.get_mut(c.name()) {
            c.apply_env(section.as_mut(), &env)
                .map_err(|e| LoadError(e.to_string()))?;
        }
    }

    let loaded = Loaded {
        config,
        file,
        env_keys,
        flag_keys,
    };
    validate(registry, &loaded)?;
    Ok(loaded)
}

fn typed(value: &str) -> toml::Value {
    format!("v = {value}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(value.to_owned()))
}

fn set_key(table: &mut toml::Table, parts: &[String], value: toml::Value) {
    match parts {
        [key] => {
            table.insert(key.clone(), value);
        }
        [section, rest @ ..] => {
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(t) = entry {
                set_key(t, rest, value);
            }
        }
        [] => {}
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `<origin>: <key>: <what serde said, with what was expected>`.
fn describe(origin: &Origin, key: &str, message: &str, not_built: &[&str]) -> String {
    let mut message = one_line(message);
    // toml's own deserializer sometimes repeats the key; we already lead with it.
    if let Some(pos) = message.find(" in `") {
        let end = message[pos + 5..]
            .find('`')
            .map_or(message.len(), |e| pos + 5 + e + 1);
        message.replace_range(pos..end, "");
    }
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|m| m.split('`').next())
    {
        let full = if key == "." || key.is_empty() {
            field.to_owned()
        } else if key.ends_with(field) {
            key.to_owned()
        } else {
            format!("{key}.{field}")
        };
        if (key == "." || key.is_empty()) && not_built.contains(&field) {
            return format!(
                "{origin}: [{field}]: this opshelf was built without the `{field}` capability (cargo feature `{field}`)"
            );
        }
        return format!(
            "{origin}: {full}: unknown key; {}",
            message.split_once(", ").map_or("", |x| x.1)
        );
    }
    if message.contains("invalid socket address syntax") {
        message.push_str(", expected an address like 127.0.0.1:8200");
    }
    let key = if key == "." { "(top level)" } else { key };
    format!("{origin}: {key}: {message}")
}

fn validate(registry: &Registry, loaded: &Loaded) -> Result<(), LoadError> {
    let c = &loaded.config;
    let mut checks: Vec<(&str, Result<(), ConfigError>)> = vec![("storage", c.storage.validate())];
    if c.log.level.trim().is_empty() {
        checks.push((
            "log",
            Err(ConfigError::new(
                "level",
                "a tracing filter such as \"info\"",
            )),
        ));
    }
    for (key, value) in [
        ("request_timeout_secs", c.server.request_timeout_secs),
        (
            "header_read_timeout_secs",
            c.server.header_read_timeout_secs,
        ),
        ("idle_timeout_secs", c.server.idle_timeout_secs),
    ] {
        if value == 0 {
            checks.push(("server", Err(ConfigError::new(key, "at least 1"))));
        }
    }
    for r in registry.iter() {
        if let Some(section) = c.sections.get(r.name()) {
            checks.push((r.name(), r.validate(section.as_ref())));
        }
    }
    for (section, result) in checks {
        if let Err(e) = result {
            let e = e.in_section(section);
            let origin = loaded.origin(&e.key);
            return Err(LoadError(format!("{origin}: {e}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_str(text: &str, env: &[(&str, &str)]) -> Result<Loaded, LoadError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("opshelf.toml");
        std::fs::write(&path, text).unwrap();
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        let dir_text = format!("{}/", dir.path().display());
        load(&Registry::builtin(), &path, true, env, &[])
            .map_err(|e| LoadError(e.0.replace(&dir_text, "")))
    }

    #[test]
    fn no_file_means_defaults() {
        let r = Registry::builtin();
        let missing = Path::new("/nonexistent/opshelf.toml");
        let l = load(&r, missing, false, Vec::new(), &[]).unwrap();
        assert_eq!(l.config, Config::defaults(&r));
        assert!(load(&r, missing, true, Vec::new(), &[]).is_err());
    }

    #[test]
    fn env_overrides_file_and_is_typed() {
        let l = load_str(
            "[admin]\nlisten = \"127.0.0.1:1\"\n[server]\nshutdown_grace_secs = 3\n",
            &[
                ("OPSHELF_ADMIN__LISTEN", "127.0.0.1:19464"),
                ("OPSHELF_DATA_DIR", "/tmp/x"),
                ("OPSHELF_SERVER__REQUEST_TIMEOUT_SECS", "7"),
                ("OPSHELF_BIN", "/ignored"),
                ("OTHER", "ignored"),
            ],
        )
        .unwrap();
        assert_eq!(l.config.admin.listen, "127.0.0.1:19464".parse().unwrap());
        assert_eq!(l.config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(l.config.server.request_timeout_secs, 7);
        assert_eq!(l.config.server.shutdown_grace_secs, 3);
        // A string key given a number-looking value still works.
        let l = load_str("", &[("OPSHELF_LOG__LEVEL", "5")]).unwrap();
        assert_eq!(l.config.log.level, "5");
    }

    #[test]
    fn errors_name_key_origin_and_expectation() {
        let e = load_str("[admin]\nlisten = \"nope\"\n", &[]).unwrap_err().0;
        assert_eq!(
            e,
            "opshelf.toml: admin.listen: invalid socket address syntax, expected an address like 127.0.0.1:8200"
        );
        let e = load_str("[admin]\nlistn = \"127.0.0.1:1\"\n", &[])
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("opshelf.toml: admin.listn: unknown key; expected `listen`"),
            "{e}"
        );
        let e = load_str("[server]\nshutdown_grace_secs = \"ten\"\n", &[])
            .unwrap_err()
            .0;
        assert!(e.starts_with("opshelf.toml: server.shutdown_grace_secs: invalid type: string \"ten\", expected u64"), "{e}");
        let e = load_str("", &[("OPSHELF_ADMIN__LISTEN", "bad")])
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("environment variable OPSHELF_ADMIN__LISTEN: admin.listen:"),
            "{e}"
        );
        let e = load_str("[storage]\nurl = \"mysql://x\"\n", &[])
            .unwrap_err()
            .0;
        assert!(
            e.starts_with("opshelf.toml: storage.url: expected a postgres://"),
            "{e}"
        );
        let e = load_str("[nosuch]\n", &[]).unwrap_err().0;
        assert!(e.starts_with("opshelf.toml: nosuch: unknown key"), "{e}");
        let e = load_str("data_dir = [\n", &[]).unwrap_err().0;
        assert!(e.starts_with("opshelf.toml: invalid TOML:"), "{e}");
        assert!(!e.contains('\n'));
    }

    #[test]
    fn example_parses_to_the_defaults() {
        let r = Registry::builtin();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("example.toml");
        std::fs::write(&path, example(&r)).unwrap();
        let parsed = load(&r, &path, true, Vec::new(), &[]).expect("the example parses");
        assert_eq!(parsed.config, Config::defaults(&r));
    }

    #[test]
    fn example_file_in_repo_is_in_sync() {
        // Only a full build prints every section, so only it is compared with the file.
        if cfg!(all(
            feature = "secrets",
            feature = "flags",
            feature = "waf",
            feature = "scan"
        )) {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../opshelf.example.toml");
            let file = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                file == example(&Registry::builtin()),
                "opshelf.example.toml is stale: run `cargo run -- config example > opshelf.example.toml`"
            );
        }
    }
}
