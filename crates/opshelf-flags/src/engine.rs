//! The evaluator: Unleash's own engine (`unleash-yggdrasil`, with `unleash-types` for its
//! input structs) behind a small interface of ours. This is the only file that names either
//! crate, so a version bump touches nothing else.
//!
//! Pure: no I/O. An [`Engine`] is compiled once per revision and environment and then shared
//! read-only by every request (`EngineState` is `Sync`).

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;
use unleash_types::client_features as ut;
use unleash_yggdrasil::EngineState;
use unleash_yggdrasil::state::EnrichedContext;

use crate::model::{ClientFeature, ClientFeaturesBody, ClientSegment, Constraint, Payload};

/// Operators the engine implements (anything else evaluates to false, as in Unleash).
pub const KNOWN_OPERATORS: &[&str] = &[
    "IN",
    "NOT_IN",
    "STR_ENDS_WITH",
    "STR_STARTS_WITH",
    "STR_CONTAINS",
    "NUM_EQ",
    "NUM_GT",
    "NUM_GTE",
    "NUM_LT",
    "NUM_LTE",
    "DATE_AFTER",
    "DATE_BEFORE",
    "SEMVER_EQ",
    "SEMVER_GT",
    "SEMVER_GTE",
    "SEMVER_LT",
    "SEMVER_LTE",
    "REGEX",
    "IN_CIDR",
];

/// The Unleash context of one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalContext {
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub environment: Option<String>,
    pub app_name: Option<String>,
    pub current_time: Option<String>,
    pub remote_address: Option<String>,
    pub properties: BTreeMap<String, String>,
}

/// The result of evaluating one flag.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluated {
    pub name: String,
    pub project: String,
    pub enabled: bool,
    pub impression_data: bool,
    pub variant_name: String,
    pub variant_enabled: bool,
    pub variant_payload: Option<Payload>,
    pub feature_enabled: bool,
}

struct FlagInfo {
    name: String,
    project: String,
    impression_data: bool,
    /// Whether the flag or one of its active strategies has variants. Without any, the
    /// variant is always the default `disabled` one, and Unleash's variant evaluation (which
    /// evaluates the strategies a second time) can be skipped.
    has_variants: bool,
}

/// A compiled flag state for one environment.
pub struct Engine {
    state: EngineState,
    /// Flag names in ascending order, with their project (for project-scoped tokens).
    flags: Vec<FlagInfo>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("flags", &self.flags.len())
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// Compile `body` (segments at top level or inlined). Returns the engine and the
    /// warnings of flags that will always be off (unknown operators, unparsable rules).
    #[must_use]
    pub fn compile(body: &ClientFeaturesBody) -> (Self, Vec<String>) {
        let features = body.features.iter().map(to_ut_feature).collect();
        let segments = body
            .segments
            .as_ref()
            .map(|s| s.iter().filter_map(to_ut_segment).collect::<Vec<_>>());
        let state = EngineState::default();
        let warnings = state
            .take_state(unleash_yggdrasil::UpdateMessage::FullResponse(
                ut::ClientFeatures {
                    version: 2,
                    features,
                    segments,
                    query: None,
                    meta: None,
                },
            ))
            .unwrap_or_default()
            .into_iter()
            .map(|w| format!("{}: {}", w.toggle_name, w.message))
            .collect();
        let mut flags: Vec<FlagInfo> = body
            .features
            .iter()
            .map(|f| FlagInfo {
                name: f.name.clone(),
                project: f.project.clone().unwrap_or_else(|| "default".to_owned()),
                impression_data: f.impression_data,
                has_variants: !f.variants.is_empty()
                    || f.strategies
                        .iter()
                        .any(|s| s.disabled != Some(true) && !s.variants.is_empty()),
            })
            .collect();
        flags.sort_by(|a, b| a.name.cmp(&b.name));
        flags.dedup_by(|a, b| a.name == b.name);
        (Self { state, flags }, warnings)
    }

    /// Evaluate every flag whose project `project_allowed` accepts, in name order.
    pub fn evaluate_all(
        &self,
        ctx: &EvalContext,
        project_allowed: impl Fn(&str) -> bool,
    ) -> Vec<Evaluated> {
        let uctx = to_ut_context(ctx);
        let mut out = Vec::with_capacity(self.flags.len());
        for flag in &self.flags {
            if !project_allowed(&flag.project) {
                continue;
            }
            if let Some(e) = self.resolve(flag, &uctx) {
                out.push(e);
            }
        }
        out
    }

    /// Evaluate one flag; `None` if it does not exist.
    #[must_use]
    pub fn evaluate(&self, name: &str, ctx: &EvalContext) -> Option<Evaluated> {
        let i = self
            .flags
            .binary_search_by(|f| f.name.as_str().cmp(name))
            .ok()?;
        self.resolve(&self.flags[i], &to_ut_context(ctx))
    }

    /// What `EngineState::resolve` answers, without its second pass over the strategies
    /// where the answer is already known: a disabled flag's variant is the default one
    /// (variant evaluation can only enable a variant when a strategy matched, which enables
    /// the flag), and so is the variant of a flag without any variants, with
    /// `feature_enabled` equal to `enabled`. The client specification's variant cases
    /// (`compat/unleash`) hold this to Unleash's answers.
    fn resolve(&self, flag: &FlagInfo, ctx: &ut::Context) -> Option<Evaluated> {
        let name = flag.name.as_str();
        let enabled = self
            .state
            .check_enabled(&EnrichedContext::from(ctx, name, None))?;
        let (variant_name, variant_enabled, variant_payload, feature_enabled) =
            if enabled && flag.has_variants {
                let v = self.state.get_variant(name, ctx, &None);
                let payload = v.payload.map(|p| Payload {
                    payload_type: p.payload_type,
                    value: p.value,
                });
                (v.name, v.enabled, payload, v.feature_enabled)
            } else {
                ("disabled".to_owned(), false, None, enabled)
            };
        Some(Evaluated {
            name: flag.name.clone(),
            project: flag.project.clone(),
            enabled,
            impression_data: flag.impression_data,
            variant_name,
            variant_enabled,
            variant_payload,
            feature_enabled,
        })
    }
}

/// Warnings for what the engine will treat as "off": strategy names it does not know
/// (custom strategies) and unknown constraint operators.
#[must_use]
pub fn lint(body: &ClientFeaturesBody) -> Vec<String> {
    let mut out = Vec::new();
    let check = |out: &mut Vec<String>, flag: &str, c: &Constraint| {
        if !KNOWN_OPERATORS.contains(&c.operator.as_str()) {
            out.push(format!(
                "{flag}: unknown operator {:?} evaluates to false",
                c.operator
            ));
        }
    };
    for f in &body.features {
        for s in &f.strategies {
            if !unleash_yggdrasil::KNOWN_STRATEGIES.contains(&s.name.as_str()) {
                out.push(format!(
                    "{}: unknown strategy {:?} evaluates to false",
                    f.name, s.name
                ));
            }
            for c in &s.constraints {
                check(&mut out, &f.name, c);
            }
        }
    }
    for seg in body.segments.iter().flatten() {
        for c in &seg.constraints {
            check(&mut out, &format!("segment {}", seg.id), c);
        }
    }
    out
}

/// Turn a delta-API body (`{"events": [...]}`: hydration, feature-updated/removed,
/// segment-updated/removed) into the full body it describes, in the order of its events.
///
/// # Errors
/// When `raw` is not a delta body.
pub fn delta_to_body(raw: Value) -> Result<ClientFeaturesBody, serde_json::Error> {
    let delta: ut::ClientFeaturesDelta = serde_json::from_value(raw)?;
    let full = ut::ClientFeatures::create_from_delta(&delta);
    serde_json::from_value(serde_json::to_value(full)?)
}

fn to_ut_context(ctx: &EvalContext) -> ut::Context {
    ut::Context {
        user_id: ctx.user_id.clone(),
        session_id: ctx.session_id.clone(),
        environment: ctx.environment.clone(),
        app_name: ctx.app_name.clone(),
        current_time: ctx.current_time.clone(),
        remote_address: ctx.remote_address.clone(),
        properties: Some(
            ctx.properties
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn to_ut_constraint(c: &Constraint) -> ut::Constraint {
    // The operator's own Deserialize maps unknown names to `Operator::Unknown`.
    let operator = serde_json::from_value(Value::String(c.operator.clone()))
        .unwrap_or_else(|_| ut::Operator::Unknown(c.operator.clone()));
    ut::Constraint {
        context_name: c.context_name.clone(),
        operator,
        case_insensitive: c.case_insensitive,
        inverted: c.inverted,
        values: Some(c.values.clone()),
        value: c.value.clone(),
    }
}

fn to_ut_payload(p: &Payload) -> ut::Payload {
    ut::Payload {
        payload_type: p.payload_type.clone(),
        value: p.value.clone(),
    }
}

fn clamp_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}

fn to_ut_segment(s: &ClientSegment) -> Option<ut::Segment> {
    Some(ut::Segment {
        id: i32::try_from(s.id).ok()?,
        constraints: s.constraints.iter().map(to_ut_constraint).collect(),
    })
}

fn to_ut_feature(f: &ClientFeature) -> ut::ClientFeature {
    let strategies = f
        .strategies
        .iter()
        .filter(|s| s.disabled != Some(true))
        .map(|s| ut::Strategy {
            name: s.name.clone(),
            sort_order: s.sort_order.map(clamp_i32),
            // A segment id outside i32 cannot exist in Unleash: map it to one that is never defined.
            segments: Some(
                s.segments
                    .iter()
                    .map(|id| i32::try_from(*id).unwrap_or(i32::MIN))
                    .collect(),
            ),
            constraints: Some(s.constraints.iter().map(to_ut_constraint).collect()),
            parameters: Some(
                s.parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            ),
            variants: Some(
                s.variants
                    .iter()
                    .map(|v| ut::StrategyVariant {
                        name: v.name.clone(),
                        weight: clamp_i32(v.weight),
                        payload: v.payload.as_ref().map(to_ut_payload),
                        stickiness: v.stickiness.clone(),
                    })
                    .collect(),
            ),
        })
        .collect();
    let variants = f
        .variants
        .iter()
        .map(|v| ut::Variant {
            name: v.name.clone(),
            weight: clamp_i32(v.weight),
            weight_type: None,
            stickiness: v.stickiness.clone(),
            payload: v.payload.as_ref().map(to_ut_payload),
            overrides: if v.overrides.is_empty() {
                None
            } else {
                Some(
                    v.overrides
                        .iter()
                        .map(|o| ut::Override {
                            context_name: o.context_name.clone(),
                            values: o.values.clone(),
                        })
                        .collect(),
                )
            },
        })
        .collect();
    ut::ClientFeature {
        name: f.name.clone(),
        feature_type: f.feature_type.clone(),
        description: None,
        created_at: None,
        last_seen_at: None,
        enabled: f.enabled,
        stale: Some(f.stale),
        impression_data: Some(f.impression_data),
        project: Some(f.project.clone().unwrap_or_else(|| "default".to_owned())),
        strategies: Some(strategies),
        variants: Some(variants),
        dependencies: f.dependencies.as_ref().map(|deps| {
            deps.iter()
                .map(|d| ut::FeatureDependency {
                    feature: d.feature.clone(),
                    enabled: d.enabled,
                    variants: d.variants.clone(),
                })
                .collect()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> ClientFeaturesBody {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn evaluates_enabled_disabled_and_variants() {
        let b = body(
            r#"{"version":2,"features":[
            {"name":"on","enabled":true,"strategies":[{"name":"default"}],
             "variants":[{"name":"blue","weight":1000,"payload":{"type":"string","value":"b"}}]},
            {"name":"off","enabled":false,"strategies":[{"name":"default"}]},
            {"name":"users","enabled":true,"project":"p2","strategies":[{"name":"userWithId","parameters":{"userIds":"1,42"}}]}]}"#,
        );
        let (engine, warnings) = Engine::compile(&b);
        assert!(warnings.is_empty(), "{warnings:?}");
        let ctx = EvalContext {
            user_id: Some("42".into()),
            ..EvalContext::default()
        };
        let all = engine.evaluate_all(&ctx, |_| true);
        let names: Vec<_> = all.iter().map(|e| (e.name.as_str(), e.enabled)).collect();
        assert_eq!(names, vec![("off", false), ("on", true), ("users", true)]);
        assert_eq!(all[1].variant_name, "blue");
        assert_eq!(all[1].variant_payload.as_ref().unwrap().value, "b");
        assert!(all[1].feature_enabled);
        assert_eq!(all[0].variant_name, "disabled");
        let only_default = engine.evaluate_all(&ctx, |p| p == "default");
        assert_eq!(only_default.len(), 2);
        let other = EvalContext {
            user_id: Some("7".into()),
            ..EvalContext::default()
        };
        assert!(!engine.evaluate("users", &other).unwrap().enabled);
        assert!(engine.evaluate("nope", &other).is_none());
    }

    #[test]
    fn unknown_operators_and_strategies_are_off_and_linted() {
        let b = body(
            r#"{"version":2,"features":[
            {"name":"a","enabled":true,"strategies":[{"name":"default","constraints":[{"contextName":"userId","operator":"WHATEVER","values":["1"]}]}]},
            {"name":"b","enabled":true,"strategies":[{"name":"myCustom"}]}]}"#,
        );
        let (engine, _) = Engine::compile(&b);
        let ctx = EvalContext {
            user_id: Some("1".into()),
            ..EvalContext::default()
        };
        assert!(!engine.evaluate("a", &ctx).unwrap().enabled);
        assert!(!engine.evaluate("b", &ctx).unwrap().enabled);
        let lints = lint(&b);
        assert_eq!(lints.len(), 2, "{lints:?}");
    }

    #[test]
    fn segments_are_applied() {
        let b = body(
            r#"{"version":2,"features":[{"name":"s","enabled":true,"strategies":[{"name":"default","segments":[1]}]}],
            "segments":[{"id":1,"constraints":[{"contextName":"userId","operator":"IN","values":["42"]}]}]}"#,
        );
        let (engine, _) = Engine::compile(&b);
        let yes = EvalContext {
            user_id: Some("42".into()),
            ..EvalContext::default()
        };
        let no = EvalContext {
            user_id: Some("41".into()),
            ..EvalContext::default()
        };
        assert!(engine.evaluate("s", &yes).unwrap().enabled);
        assert!(!engine.evaluate("s", &no).unwrap().enabled);
    }

    #[test]
    fn every_specification_case_passes_through_our_wire_types() {
        let dir = crate::testutil::shared("specifications");
        let index: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(dir.join("index.json")).unwrap())
                .unwrap();
        let mut checked = 0;
        for file in index {
            let spec: Value =
                serde_json::from_str(&std::fs::read_to_string(dir.join(&file)).unwrap()).unwrap();
            let state = spec["state"].clone();
            let b = if state.get("events").is_some() {
                delta_to_body(state).unwrap()
            } else {
                serde_json::from_value(state).unwrap()
            };
            let (engine, _) = Engine::compile(&b);
            for t in spec["tests"].as_array().into_iter().flatten() {
                let ctx = crate::api::context_from_json(&t["context"]);
                let got = engine
                    .evaluate(t["toggleName"].as_str().unwrap(), &ctx)
                    .is_some_and(|e| e.enabled);
                assert_eq!(
                    Value::Bool(got),
                    t["expectedResult"],
                    "{file}: {}",
                    t["description"]
                );
                checked += 1;
            }
            for t in spec["variantTests"].as_array().into_iter().flatten() {
                let ctx = crate::api::context_from_json(&t["context"]);
                let name = t["toggleName"].as_str().unwrap();
                let want = &t["expectedResult"];
                let (vname, venabled, payload, fe) = match engine.evaluate(name, &ctx) {
                    Some(e) => (
                        e.variant_name,
                        e.variant_enabled,
                        e.variant_payload,
                        e.feature_enabled,
                    ),
                    None => ("disabled".to_owned(), false, None, false),
                };
                assert_eq!(
                    want["name"],
                    Value::String(vname),
                    "{file}: {}",
                    t["description"]
                );
                assert_eq!(
                    want["enabled"],
                    Value::Bool(venabled),
                    "{file}: {}",
                    t["description"]
                );
                if let Some(fe_want) = want.get("feature_enabled") {
                    assert_eq!(*fe_want, Value::Bool(fe), "{file}: {}", t["description"]);
                }
                if let Some(p) = want.get("payload") {
                    assert_eq!(
                        *p,
                        serde_json::to_value(payload).unwrap(),
                        "{file}: {}",
                        t["description"]
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 167, "the v6.1.0 specification has 167 cases");
    }

    /// Our shortcut in `resolve` answers exactly what Unleash's own `EngineState::resolve` does.
    #[test]
    fn resolve_matches_unleash_resolve() {
        let b = body(
            r#"{"version":2,"features":[
            {"name":"plain","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"50","stickiness":"default","groupId":"plain"}}]},
            {"name":"off","enabled":false,"strategies":[],"variants":[{"name":"a","weight":1000}]},
            {"name":"no-strategies","enabled":true,"strategies":[]},
            {"name":"flag-variants","enabled":true,"strategies":[{"name":"flexibleRollout","parameters":{"rollout":"60","stickiness":"userId","groupId":"fv"}}],
             "variants":[{"name":"a","weight":500,"payload":{"type":"string","value":"x"}},{"name":"b","weight":500}]},
            {"name":"strategy-variants","enabled":true,"strategies":[
               {"name":"flexibleRollout","parameters":{"rollout":"30","stickiness":"userId","groupId":"sv"},"variants":[{"name":"s","weight":1000,"stickiness":"default"}]},
               {"name":"userWithId","parameters":{"userIds":"1,2,3,4,5,6,7,8,9"}}]},
            {"name":"disabled-strategy-variants","enabled":true,"strategies":[
               {"name":"default","disabled":true,"variants":[{"name":"s","weight":1000,"stickiness":"default"}]},
               {"name":"flexibleRollout","parameters":{"rollout":"70","stickiness":"userId","groupId":"d"}}]},
            {"name":"child","enabled":true,"strategies":[{"name":"default"}],"dependencies":[{"feature":"plain"}]}]}"#,
        );
        let (engine, _) = Engine::compile(&b);
        for user in 0..200 {
            let ctx = EvalContext {
                user_id: Some(user.to_string()),
                session_id: Some((user * 7).to_string()),
                ..EvalContext::default()
            };
            let uctx = to_ut_context(&ctx);
            for e in engine.evaluate_all(&ctx, |_| true) {
                let r = engine.state.resolve(&e.name, &uctx, &None).unwrap();
                let want = (
                    r.enabled,
                    r.impression_data,
                    r.project,
                    r.variant.name,
                    r.variant.enabled,
                    r.variant.feature_enabled,
                    r.variant.payload.map(|p| p.value),
                );
                let got = (
                    e.enabled,
                    e.impression_data,
                    e.project,
                    e.variant_name,
                    e.variant_enabled,
                    e.feature_enabled,
                    e.variant_payload.map(|p| p.value),
                );
                assert_eq!(got, want, "flag {} user {user}", e.name);
            }
        }
    }
}
