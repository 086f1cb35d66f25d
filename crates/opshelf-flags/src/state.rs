//! The flag configuration as opshelf keeps it (storage records, not wire types), and the pure
//! operations on it: diffing two states into storage writes, and building the per-environment
//! client bodies the evaluator and the client API serve.
//!
//! Key layout in the `flags` namespace (values are JSON). The configuration, read in one
//! scan at start: `state/project/<id>`, `state/env/<name>`, `state/feature/<name>`,
//! `state/segment/<id, 20 digits>`, `state/token/<sha256(salt||token)>`, `state/meta`
//! (revision + next event id). Beside it: `event/<id, 20 digits>` (audit log),
//! `usage/<app>/<flag>`, `app/<app>/<instance>`, `meta/salt`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{
    ClientFeature, ClientFeaturesBody, ClientSegment, Constraint, Dependency, Strategy, Variant,
};

/// A project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub created_at: String,
}

/// An environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    pub name: String,
    pub env_type: String,
    pub enabled: bool,
    pub sort_order: i64,
}

/// A tag on a flag (`type:value`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tag {
    #[serde(rename = "type")]
    pub tag_type: String,
    pub value: String,
}

/// A flag's configuration in one environment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FeatureEnv {
    pub enabled: bool,
    #[serde(default)]
    pub strategies: Vec<Strategy>,
    #[serde(default)]
    pub variants: Vec<Variant>,
}

/// A flag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub project: String,
    pub feature_type: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub impression_data: bool,
    #[serde(default)]
    pub stale: bool,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub archived_at: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub tags: Vec<Tag>,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default)]
    pub environments: BTreeMap<String, FeatureEnv>,
}

/// A segment (a reusable list of constraints).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub id: i64,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub project: Option<String>,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    pub created_at: String,
}

/// API token kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Admin,
    /// Backend SDK token (Unleash also calls it `client`).
    Backend,
    Frontend,
}

impl TokenType {
    /// Parse Unleash's names (`client` is the old name of `backend`), case-insensitively.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "admin" => Some(Self::Admin),
            "backend" | "client" => Some(Self::Backend),
            "frontend" => Some(Self::Frontend),
            _ => None,
        }
    }

    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Backend => "client",
            Self::Frontend => "frontend",
        }
    }
}

/// A stored API token: only its salted hash, never the secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Token {
    pub hash: String,
    pub token_name: String,
    pub token_type: TokenType,
    /// `["*"]` for every project.
    pub projects: Vec<String>,
    /// `*` only for admin tokens.
    pub environment: String,
    pub created_at: String,
    /// `<project>:<environment>.` followed by the first characters of the secret, for display.
    pub display: String,
}

impl Token {
    /// Whether this token may see `project`.
    #[must_use]
    pub fn allows_project(&self, project: &str) -> bool {
        self.projects.iter().any(|p| p == "*" || p == project)
    }
}

/// An audit-log entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: u64,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created_by: String,
    pub created_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default)]
    pub data: Value,
    #[serde(default)]
    pub pre_data: Value,
}

/// What a change records in the event log (the store fills id, author and time).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventDraft {
    pub event_type: String,
    pub feature_name: Option<String>,
    pub project: Option<String>,
    pub environment: Option<String>,
    pub data: Value,
    pub pre_data: Value,
}

impl EventDraft {
    /// An event of `event_type` with `data`.
    #[must_use]
    pub fn new(event_type: &str, data: Value) -> Self {
        Self {
            event_type: event_type.to_owned(),
            data,
            ..Self::default()
        }
    }

    /// Attach the flag (and its project).
    #[must_use]
    pub fn feature(mut self, name: &str, project: &str) -> Self {
        self.feature_name = Some(name.to_owned());
        self.project = Some(project.to_owned());
        self
    }

    /// Attach the environment.
    #[must_use]
    pub fn env(mut self, env: &str) -> Self {
        self.environment = Some(env.to_owned());
        self
    }

    /// Attach the previous value.
    #[must_use]
    pub fn pre(mut self, pre: Value) -> Self {
        self.pre_data = pre;
        self
    }
}

/// The `state/meta` record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetaState {
    pub revision: u64,
    pub next_event_id: u64,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct State {
    pub meta: MetaState,
    pub projects: BTreeMap<String, Project>,
    pub environments: BTreeMap<String, Environment>,
    pub features: BTreeMap<String, Feature>,
    pub segments: BTreeMap<i64, Segment>,
    pub tokens: BTreeMap<String, Token>,
}

/// Storage key of a segment.
#[must_use]
pub fn segment_key(id: i64) -> String {
    format!("state/segment/{id:020}")
}

/// Storage key of an event.
#[must_use]
pub fn event_key(id: u64) -> String {
    format!("event/{id:020}")
}

/// A storage write derived from a state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    Put(String, Vec<u8>),
    Delete(String),
}

fn diff_map<K: Ord, V: PartialEq + Serialize>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    key: impl Fn(&K) -> String,
    out: &mut Vec<Write>,
) {
    for (k, v) in new {
        if old.get(k) != Some(v) {
            // Serializing our own plain records cannot fail.
            out.push(Write::Put(
                key(k),
                serde_json::to_vec(v).unwrap_or_default(),
            ));
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            out.push(Write::Delete(key(k)));
        }
    }
}

impl State {
    /// The storage writes that turn `self` into `new` (records only; not `state/meta`).
    /// The second value says whether anything that SDKs see changed (so the revision moves).
    #[must_use]
    pub fn diff(&self, new: &State) -> (Vec<Write>, bool) {
        let mut out = Vec::new();
        diff_map(
            &self.projects,
            &new.projects,
            |k| format!("state/project/{k}"),
            &mut out,
        );
        diff_map(
            &self.environments,
            &new.environments,
            |k| format!("state/env/{k}"),
            &mut out,
        );
        diff_map(
            &self.features,
            &new.features,
            |k| format!("state/feature/{k}"),
            &mut out,
        );
        diff_map(&self.segments, &new.segments, |k| segment_key(*k), &mut out);
        let flags_changed = !out.is_empty();
        diff_map(
            &self.tokens,
            &new.tokens,
            |k| format!("state/token/{k}"),
            &mut out,
        );
        (out, flags_changed)
    }

    /// Apply one stored record (used when loading). Unknown keys are ignored.
    ///
    /// # Errors
    /// When the value does not decode.
    pub fn load_record(&mut self, key: &str, value: &[u8]) -> Result<(), serde_json::Error> {
        let Some(key) = key.strip_prefix("state/") else {
            return Ok(());
        };
        if let Some(id) = key.strip_prefix("project/") {
            self.projects
                .insert(id.to_owned(), serde_json::from_slice(value)?);
        } else if let Some(name) = key.strip_prefix("env/") {
            self.environments
                .insert(name.to_owned(), serde_json::from_slice(value)?);
        } else if let Some(name) = key.strip_prefix("feature/") {
            self.features
                .insert(name.to_owned(), serde_json::from_slice(value)?);
        } else if key.starts_with("segment/") {
            let s: Segment = serde_json::from_slice(value)?;
            self.segments.insert(s.id, s);
        } else if let Some(hash) = key.strip_prefix("token/") {
            self.tokens
                .insert(hash.to_owned(), serde_json::from_slice(value)?);
        } else if key == "meta" {
            self.meta = serde_json::from_slice(value)?;
        }
        Ok(())
    }

    /// A fresh installation: project `default`, environments `development` and `production`
    /// (what unleash-server starts with).
    #[must_use]
    pub fn initial(now: &str) -> Self {
        let mut s = Self::default();
        s.projects.insert(
            "default".into(),
            Project {
                id: "default".into(),
                name: "Default".into(),
                description: Some("Default project".into()),
                created_at: now.to_owned(),
            },
        );
        for (i, (name, ty)) in [("development", "development"), ("production", "production")]
            .iter()
            .enumerate()
        {
            s.environments.insert(
                (*name).to_owned(),
                Environment {
                    name: (*name).to_owned(),
                    env_type: (*ty).to_owned(),
                    enabled: true,
                    sort_order: i64::try_from(i).unwrap_or(0) + 1,
                },
            );
        }
        s
    }

    /// The next free segment id.
    #[must_use]
    pub fn next_segment_id(&self) -> i64 {
        self.segments.keys().next_back().map_or(1, |k| k + 1)
    }

    /// The client body of `env`: every live flag (archived ones left out) with its
    /// configuration there, sorted by name, and every segment, at top level.
    #[must_use]
    pub fn client_body(&self, env: &str) -> ClientFeaturesBody {
        let mut features = Vec::new();
        for f in self.features.values() {
            if f.archived {
                continue;
            }
            let fe = f.environments.get(env).cloned().unwrap_or_default();
            let mut strategies: Vec<Strategy> = fe
                .strategies
                .into_iter()
                .filter(|s| s.disabled != Some(true))
                .collect();
            strategies.sort_by_key(|s| s.sort_order.unwrap_or(0));
            features.push(ClientFeature {
                name: f.name.clone(),
                feature_type: Some(f.feature_type.clone()),
                description: f.description.clone(),
                enabled: fe.enabled,
                project: Some(f.project.clone()),
                stale: f.stale,
                strategies,
                variants: fe.variants,
                impression_data: f.impression_data,
                dependencies: if f.dependencies.is_empty() {
                    None
                } else {
                    Some(f.dependencies.clone())
                },
            });
        }
        let segments = self
            .segments
            .values()
            .map(|s| ClientSegment {
                id: s.id,
                name: Some(s.name.clone()),
                constraints: s.constraints.clone(),
            })
            .collect();
        ClientFeaturesBody {
            version: 2,
            features,
            query: None,
            segments: Some(segments),
            meta: None,
        }
    }
}

/// Filters of a client-features request (after the token's scope is applied).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientQuery {
    /// `None`: every project.
    pub projects: Option<BTreeSet<String>>,
    pub name_prefix: Option<String>,
    /// `(type, value)` pairs; a flag matches if it has any of them.
    pub tags: Vec<(String, String)>,
    pub inline_segments: bool,
}

/// Narrow a full client body to `q`: filter flags; keep only the segments they use, at top
/// level or inlined into each strategy's constraints.
#[must_use]
pub fn filter_body(
    full: &ClientFeaturesBody,
    tags_of: impl Fn(&str) -> Vec<(String, String)>,
    q: &ClientQuery,
) -> ClientFeaturesBody {
    let mut features = Vec::new();
    for f in &full.features {
        let project = f.project.as_deref().unwrap_or("default");
        if let Some(ps) = &q.projects
            && !ps.contains(project)
        {
            continue;
        }
        if let Some(prefix) = &q.name_prefix
            && !f.name.starts_with(prefix.as_str())
        {
            continue;
        }
        if !q.tags.is_empty() {
            let have = tags_of(&f.name);
            if !q.tags.iter().any(|t| have.contains(t)) {
                continue;
            }
        }
        features.push(f.clone());
    }
    let all_segments = full.segments.clone().unwrap_or_default();
    let used: BTreeSet<i64> = features
        .iter()
        .flat_map(|f| f.strategies.iter().flat_map(|s| s.segments.iter().copied()))
        .collect();
    if q.inline_segments {
        for f in &mut features {
            for s in &mut f.strategies {
                for id in std::mem::take(&mut s.segments) {
                    match all_segments.iter().find(|seg| seg.id == id) {
                        Some(seg) => s.constraints.extend(seg.constraints.iter().cloned()),
                        // A strategy naming a missing segment must never match.
                        None => s.constraints.push(Constraint {
                            context_name: "__opshelf_missing_segment".into(),
                            operator: "IN".into(),
                            values: Vec::new(),
                            value: None,
                            inverted: false,
                            case_insensitive: false,
                        }),
                    }
                }
            }
        }
        ClientFeaturesBody {
            version: 2,
            features,
            query: None,
            segments: None,
            meta: None,
        }
    } else {
        let segments = all_segments
            .into_iter()
            .filter(|s| used.contains(&s.id))
            .collect();
        ClientFeaturesBody {
            version: 2,
            features,
            query: None,
            segments: Some(segments),
            meta: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feature(name: &str, project: &str) -> Feature {
        Feature {
            name: name.into(),
            project: project.into(),
            feature_type: "release".into(),
            description: None,
            impression_data: false,
            stale: false,
            archived: false,
            archived_at: None,
            created_at: "t".into(),
            tags: vec![],
            dependencies: vec![],
            environments: BTreeMap::new(),
        }
    }

    #[test]
    fn diff_writes_only_what_changed() {
        let a = State::initial("t");
        let mut b = a.clone();
        b.features.insert("f".into(), feature("f", "default"));
        let (w, flags) = a.diff(&b);
        assert!(flags);
        assert_eq!(w.len(), 1);
        assert!(matches!(&w[0], Write::Put(k, _) if k == "state/feature/f"));
        let (w, _) = b.diff(&a);
        assert_eq!(w, vec![Write::Delete("state/feature/f".into())]);
        let (w, flags) = a.diff(&a);
        assert!(w.is_empty() && !flags);
    }

    #[test]
    fn load_record_round_trips_diff_output() {
        let a = State::default();
        let mut b = State::initial("t");
        b.features.insert("f".into(), feature("f", "default"));
        b.segments.insert(
            3,
            Segment {
                id: 3,
                name: "s".into(),
                description: None,
                project: None,
                constraints: vec![],
                created_at: "t".into(),
            },
        );
        let (w, _) = a.diff(&b);
        let mut c = State::default();
        for op in w {
            if let Write::Put(k, v) = op {
                c.load_record(&k, &v).unwrap();
            }
        }
        assert_eq!(c, b);
        assert_eq!(c.next_segment_id(), 4);
    }

    #[test]
    fn filter_by_project_prefix_tag_and_inline_segments() {
        let mut s = State::initial("t");
        let mut f1 = feature("app.a", "default");
        f1.tags.push(Tag {
            tag_type: "simple".into(),
            value: "x".into(),
        });
        let mut env = FeatureEnv {
            enabled: true,
            ..FeatureEnv::default()
        };
        env.strategies
            .push(serde_json::from_str(r#"{"name":"default","segments":[1]}"#).unwrap());
        f1.environments.insert("development".into(), env);
        s.features.insert(f1.name.clone(), f1);
        s.features.insert("other".into(), feature("other", "p2"));
        s.segments.insert(
            1,
            Segment {
                id: 1,
                name: "seg".into(),
                description: None,
                project: None,
                constraints: vec![
                    serde_json::from_str(
                        r#"{"contextName":"userId","operator":"IN","values":["1"]}"#,
                    )
                    .unwrap(),
                ],
                created_at: "t".into(),
            },
        );
        let full = s.client_body("development");
        assert_eq!(full.features.len(), 2);
        let tags = |n: &str| {
            s.features[n]
                .tags
                .iter()
                .map(|t| (t.tag_type.clone(), t.value.clone()))
                .collect()
        };
        let q = ClientQuery {
            projects: Some(["default".to_owned()].into()),
            ..ClientQuery::default()
        };
        let b = filter_body(&full, tags, &q);
        assert_eq!(b.features.len(), 1);
        assert_eq!(b.segments.as_ref().unwrap().len(), 1);
        let q = ClientQuery {
            name_prefix: Some("oth".into()),
            ..ClientQuery::default()
        };
        assert_eq!(filter_body(&full, tags, &q).features[0].name, "other");
        let q = ClientQuery {
            tags: vec![("simple".into(), "x".into())],
            inline_segments: true,
            ..ClientQuery::default()
        };
        let b = filter_body(&full, tags, &q);
        assert_eq!(b.features.len(), 1);
        assert!(b.segments.is_none());
        assert!(b.features[0].strategies[0].segments.is_empty());
        assert_eq!(b.features[0].strategies[0].constraints.len(), 1);
    }
}
