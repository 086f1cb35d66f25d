//! ACL policies: parsing (HCL and JSON forms) and evaluation with Vault's rules.
//!
//! - `path "p" { capabilities = [...] }`; the legacy `policy = "read|write|deny|sudo"`.
//! - Globs: a trailing `*` is a prefix match, `+` matches exactly one path segment.
//! - Several policies are merged per path string (capabilities union; `deny` wins).
//! - An exact path beats any glob; among globs the highest-priority one alone applies
//!   (first wildcard later, no trailing `*`, fewer `+`, longer, lexically greater).
//!
//! Pure code: no I/O; parsing never panics on untrusted text.

use std::collections::HashMap;

use serde_json::Value;

/// Capability bits.
pub mod cap {
    pub const CREATE: u16 = 1;
    pub const READ: u16 = 1 << 1;
    pub const UPDATE: u16 = 1 << 2;
    pub const DELETE: u16 = 1 << 3;
    pub const LIST: u16 = 1 << 4;
    pub const SUDO: u16 = 1 << 5;
    pub const DENY: u16 = 1 << 6;
    pub const PATCH: u16 = 1 << 7;
    pub const ROOT: u16 = CREATE | READ | UPDATE | DELETE | LIST | SUDO | PATCH;
}

const CAP_NAMES: [(&str, u16); 8] = [
    ("create", cap::CREATE),
    ("read", cap::READ),
    ("update", cap::UPDATE),
    ("delete", cap::DELETE),
    ("list", cap::LIST),
    ("sudo", cap::SUDO),
    ("deny", cap::DENY),
    ("patch", cap::PATCH),
];

/// Vault's names for a capability mask, in Vault's order (`["deny"]` when denied,
/// `["root"]` for everything).
#[must_use]
pub fn cap_names(mask: u16) -> Vec<&'static str> {
    if mask & cap::DENY != 0 || mask == 0 {
        return vec!["deny"];
    }
    if mask == cap::ROOT {
        return vec!["root"];
    }
    let mut out: Vec<&'static str> = CAP_NAMES
        .iter()
        .filter(|(_, b)| mask & b != 0)
        .map(|(n, _)| *n)
        .collect();
    out.sort_unstable();
    out
}

/// Why a policy text was rejected (the message is shown to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse policy: {0}")]
pub struct PolicyError(pub String);

/// One `path` stanza.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRule {
    pub path: String,
    pub caps: u16,
}

/// A parsed policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub raw: String,
    pub rules: Vec<PathRule>,
}

fn caps_from_names(names: &[String]) -> Result<u16, PolicyError> {
    let mut mask = 0u16;
    for n in names {
        let Some((_, bit)) = CAP_NAMES.iter().find(|(name, _)| name == n) else {
            // Vault accepts unknown-to-us capabilities such as "subscribe"; they grant nothing here.
            if n == "subscribe" || n == "recover" {
                continue;
            }
            return Err(PolicyError(format!("invalid capability \"{n}\"")));
        };
        mask |= bit;
    }
    Ok(mask)
}

fn caps_from_legacy(policy: &str) -> Result<u16, PolicyError> {
    match policy {
        "deny" => Ok(cap::DENY),
        "read" => Ok(cap::READ | cap::LIST),
        "write" => Ok(cap::CREATE | cap::READ | cap::UPDATE | cap::DELETE | cap::LIST | cap::PATCH),
        "sudo" => Ok(cap::ROOT),
        other => Err(PolicyError(format!("invalid policy \"{other}\""))),
    }
}

fn rule_from_json(path: &str, body: &Value) -> Result<PathRule, PolicyError> {
    let mut caps = 0u16;
    let obj = match body {
        Value::Object(o) => o.clone(),
        // HCL's JSON form may wrap the block in a one-element array
        Value::Array(a) => match a.first() {
            Some(Value::Object(o)) => o.clone(),
            _ => return Err(PolicyError(format!("path \"{path}\": expected an object"))),
        },
        _ => return Err(PolicyError(format!("path \"{path}\": expected an object"))),
    };
    if let Some(c) = obj.get("capabilities") {
        let names: Vec<String> = match c {
            Value::Array(items) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
            Value::String(s) => vec![s.clone()],
            _ => {
                return Err(PolicyError(format!(
                    "path \"{path}\": capabilities must be a list"
                )));
            }
        };
        caps |= caps_from_names(&names)?;
    }
    if let Some(p) = obj.get("policy").and_then(Value::as_str) {
        caps |= caps_from_legacy(p)?;
    }
    if caps & cap::DENY != 0 {
        caps = cap::DENY;
    }
    Ok(PathRule {
        path: path.trim_start_matches('/').to_owned(),
        caps,
    })
}

/// Parse a policy document (HCL, or JSON when it starts with `{`).
///
/// # Errors
/// Syntax errors, unknown capabilities, or no `path` stanza in a non-empty document.
pub fn parse(name: &str, text: &str) -> Result<Policy, PolicyError> {
    let trimmed = text.trim_start();
    let doc: Value = if trimmed.starts_with('{') {
        serde_json::from_str(text).map_err(|e| PolicyError(e.to_string()))?
    } else {
        hcl_to_json(text)?
    };
    let mut rules = Vec::new();
    if let Some(paths) = doc.get("path") {
        match paths {
            Value::Object(map) => {
                for (p, body) in map {
                    rules.push(rule_from_json(p, body)?);
                }
            }
            Value::Array(items) => {
                for item in items {
                    if let Value::Object(map) = item {
                        for (p, body) in map {
                            rules.push(rule_from_json(p, body)?);
                        }
                    }
                }
            }
            _ => return Err(PolicyError("\"path\" must be a block".to_owned())),
        }
    }
    Ok(Policy {
        name: name.to_owned(),
        raw: text.to_owned(),
        rules,
    })
}

/// Read HCL into the same JSON shape as the JSON form: `{"path": [{"<p>": {...}}, ...]}`.
fn hcl_to_json(text: &str) -> Result<Value, PolicyError> {
    let body = hcl::parse(text).map_err(|e| PolicyError(e.to_string()))?;
    let mut paths = Vec::new();
    for block in body.blocks() {
        if block.identifier() != "path" {
            continue;
        }
        let Some(label) = block.labels().first() else {
            return Err(PolicyError("path block without a path".to_owned()));
        };
        let mut obj = serde_json::Map::new();
        for attr in block.body().attributes() {
            let v: Value =
                serde_json::to_value(attr.expr()).map_err(|e| PolicyError(e.to_string()))?;
            obj.insert(attr.key().to_owned(), v);
        }
        let mut entry = serde_json::Map::new();
        entry.insert(label.as_str().to_owned(), Value::Object(obj));
        paths.push(Value::Object(entry));
    }
    let mut root = serde_json::Map::new();
    root.insert("path".to_owned(), Value::Array(paths));
    Ok(Value::Object(root))
}

#[derive(Debug, Clone)]
struct Glob {
    pattern: String,
    /// the pattern without its trailing `*`, split on `/`
    segs: Vec<String>,
    star: bool,
    caps: u16,
}

impl Glob {
    fn matches(&self, path: &str) -> bool {
        let psegs: Vec<&str> = path.split('/').collect();
        if self.star {
            if psegs.len() < self.segs.len() {
                return false;
            }
        } else if psegs.len() != self.segs.len() {
            return false;
        }
        let last = self.segs.len().saturating_sub(1);
        for (i, seg) in self.segs.iter().enumerate() {
            let p = psegs[i];
            if seg == "+" {
                if self.star && i == last {
                    // "+*": any segment, then anything (prefix of the remaining path)
                }
                continue;
            }
            if self.star && i == last {
                if !p.starts_with(seg.as_str()) {
                    return false;
                }
            } else if seg != p {
                return false;
            }
        }
        true
    }

    /// Vault's priority ordering (greater = wins).
    fn cmp_priority(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let first_wild = |g: &Self| {
            let plus = g.pattern.find('+');
            let star = if g.star {
                Some(g.pattern.len() - 1)
            } else {
                None
            };
            match (plus, star) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => usize::MAX,
            }
        };
        let (a, b) = (first_wild(self), first_wild(other));
        if a != b {
            return a.cmp(&b);
        }
        if self.star != other.star {
            return if self.star {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        let plus = |g: &Self| g.segs.iter().filter(|s| *s == "+").count();
        let (pa, pb) = (plus(self), plus(other));
        if pa != pb {
            return pb.cmp(&pa);
        }
        if self.pattern.len() != other.pattern.len() {
            return self.pattern.len().cmp(&other.pattern.len());
        }
        self.pattern.cmp(&other.pattern)
    }
}

/// The merged rules of a token's policies.
#[derive(Debug, Clone, Default)]
pub struct Acl {
    root: bool,
    exact: HashMap<String, u16>,
    globs: Vec<Glob>,
}

fn merge(a: u16, b: u16) -> u16 {
    if (a | b) & cap::DENY != 0 {
        cap::DENY
    } else {
        a | b
    }
}

impl Acl {
    /// Merge `policies`; `root` grants everything.
    #[must_use]
    pub fn new(policies: &[&Policy], root: bool) -> Self {
        let mut exact: HashMap<String, u16> = HashMap::new();
        let mut globs: HashMap<String, u16> = HashMap::new();
        for p in policies {
            for r in &p.rules {
                let wild = r.path.ends_with('*') || r.path.split('/').any(|s| s == "+");
                let map = if wild { &mut globs } else { &mut exact };
                let e = map.entry(r.path.clone()).or_insert(0);
                *e = merge(*e, r.caps);
            }
        }
        let globs = globs
            .into_iter()
            .map(|(pattern, caps)| {
                let star = pattern.ends_with('*');
                let base = if star {
                    &pattern[..pattern.len() - 1]
                } else {
                    pattern.as_str()
                };
                let segs = base.split('/').map(str::to_owned).collect();
                Glob {
                    pattern,
                    segs,
                    star,
                    caps,
                }
            })
            .collect();
        Self { root, exact, globs }
    }

    /// The capabilities granted on `path` (no leading slash).
    #[must_use]
    pub fn capabilities(&self, path: &str) -> u16 {
        if self.root {
            return cap::ROOT;
        }
        if let Some(c) = self.exact.get(path) {
            return if c & cap::DENY != 0 { cap::DENY } else { *c };
        }
        let mut best: Option<&Glob> = None;
        for g in &self.globs {
            if g.matches(path) && best.is_none_or(|b| g.cmp_priority(b).is_gt()) {
                best = Some(g);
            }
        }
        match best {
            Some(g) if g.caps & cap::DENY != 0 => cap::DENY,
            Some(g) => g.caps,
            None => 0,
        }
    }

    /// Whether `needed` (any of its bits) is granted on `path`, plus sudo when `sudo` (the
    /// tests' shorthand; the request path reads `capabilities` itself).
    #[cfg(test)]
    #[must_use]
    pub fn allows(&self, path: &str, needed: u16, sudo: bool) -> bool {
        let caps = self.capabilities(path);
        if caps & cap::DENY != 0 {
            return false;
        }
        if sudo && caps & cap::SUDO == 0 {
            return false;
        }
        caps & needed != 0
    }
}

/// Vault's built-in `default` policy (the parts that apply to what opshelf serves).
pub const DEFAULT_POLICY: &str = r#"
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}

# Allow tokens to renew themselves
path "auth/token/renew-self" {
    capabilities = ["update"]
}

# Allow tokens to revoke themselves
path "auth/token/revoke-self" {
    capabilities = ["update"]
}

# Allow a token to look up its own capabilities on a path
path "sys/capabilities-self" {
    capabilities = ["update"]
}

# Allow a token to look up its resultant ACL from all policies
path "sys/internal/ui/resultant-acl" {
    capabilities = ["read"]
}

# Allow a token to renew a lease via lease_id in the request body
path "sys/leases/renew" {
    capabilities = ["update"]
}

# Allow looking up lease properties
path "sys/leases/lookup" {
    capabilities = ["update"]
}

# Allow a token to manage its own cubbyhole
path "cubbyhole/*" {
    capabilities = ["create", "read", "update", "delete", "list"]
}

# Allow a token to wrap arbitrary values in a response-wrapping token
path "sys/wrapping/wrap" {
    capabilities = ["update"]
}

# Allow a token to look up the creation time and TTL of a given response-wrapping token
path "sys/wrapping/lookup" {
    capabilities = ["update"]
}

# Allow a token to unwrap a response-wrapping token
path "sys/wrapping/unwrap" {
    capabilities = ["update"]
}

# Allow general purpose tools
path "sys/tools/hash" {
    capabilities = ["update"]
}
path "sys/tools/hash/*" {
    capabilities = ["update"]
}

# Allow a token to make requests to the Authorization Endpoint for OIDC providers.
path "identity/oidc/provider/+/authorize" {
    capabilities = ["read", "update"]
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(texts: &[&str]) -> Acl {
        let ps: Vec<Policy> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| parse(&format!("p{i}"), t).unwrap())
            .collect();
        let refs: Vec<&Policy> = ps.iter().collect();
        Acl::new(&refs, false)
    }

    #[test]
    fn parses_hcl_and_json_forms_alike() {
        let h = parse("a", "path \"secret/*\" {\n capabilities = [\"read\", \"list\"]\n}\n# c\npath \"sys/x\" { policy = \"write\" }").unwrap();
        let j = parse(
            "a",
            r#"{"path":{"secret/*":{"capabilities":["read","list"]},"sys/x":{"policy":"write"}}}"#,
        )
        .unwrap();
        let mut hr = h.rules.clone();
        let mut jr = j.rules.clone();
        hr.sort_by(|a, b| a.path.cmp(&b.path));
        jr.sort_by(|a, b| a.path.cmp(&b.path));
        assert_eq!(hr, jr);
        assert_eq!(hr[0].caps, cap::READ | cap::LIST);
        assert!(parse("a", "path \"x\" { capabilities = [\"fly\"] }").is_err());
        assert!(parse("a", "path \"x\" { capabilities = [").is_err());
        assert!(parse("a", "{\"path\": 3}").is_err());
        assert!(parse("d", DEFAULT_POLICY).unwrap().rules.len() > 10);
    }

    #[test]
    fn exact_beats_glob_and_deny_wins() {
        let a = acl(&[
            r#"path "secret/*" { capabilities = ["read"] }
               path "secret/admin" { capabilities = ["deny"] }
               path "secret/exact" { capabilities = ["update"] }"#,
            r#"path "secret/*" { capabilities = ["list"] }"#,
        ]);
        assert_eq!(a.capabilities("secret/foo"), cap::READ | cap::LIST);
        assert_eq!(a.capabilities("secret/admin"), cap::DENY);
        assert_eq!(a.capabilities("secret/exact"), cap::UPDATE);
        assert_eq!(a.capabilities("secret"), 0);
        assert_eq!(a.capabilities("other/x"), 0);
        assert!(a.allows("secret/foo", cap::READ, false));
        assert!(!a.allows("secret/foo", cap::READ, true));
        assert!(!a.allows("secret/admin", cap::READ, false));
    }

    #[test]
    fn glob_priority_follows_vaults_rules() {
        let a = acl(&[r#"
            path "secret/*" { capabilities = ["read"] }
            path "secret/data/*" { capabilities = ["update"] }
            path "secret/+/team" { capabilities = ["list"] }
            path "secret/data/te*" { capabilities = ["delete"] }
            path "+/data/x" { capabilities = ["create"] }
        "#]);
        assert_eq!(a.capabilities("secret/data/foo"), cap::UPDATE);
        assert_eq!(a.capabilities("secret/data/team"), cap::DELETE);
        assert_eq!(a.capabilities("secret/meta/team"), cap::LIST);
        assert_eq!(a.capabilities("secret/meta/team/x"), cap::READ);
        // first wildcard later wins: "secret/data/*" (pos 12) over "+/data/x" (pos 0)
        assert_eq!(a.capabilities("secret/data/x"), cap::UPDATE);
        assert_eq!(a.capabilities("kv/data/x"), cap::CREATE);
        assert_eq!(a.capabilities("kv/data/x/y"), 0);
    }

    #[test]
    fn root_and_names() {
        let a = Acl::new(&[], true);
        assert_eq!(a.capabilities("anything"), cap::ROOT);
        assert_eq!(cap_names(cap::ROOT), vec!["root"]);
        assert_eq!(cap_names(0), vec!["deny"]);
        assert_eq!(cap_names(cap::READ | cap::LIST), vec!["list", "read"]);
    }
}
