//! Migration: load a `/api/client/features` body (what any running Unleash or Edge returns,
//! segments included; or a delta-API `{"events": [...]}` body) into one project and
//! environment, and export an environment in the same format.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::engine;
use crate::error::Error;
use crate::model::ClientFeaturesBody;
use crate::state::{Environment, EventDraft, Feature, FeatureEnv, Project, Segment, State};
use crate::store::{Store, now};

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub features: usize,
    pub segments: usize,
    /// Unknown strategies and operators (kept; they evaluate to false, as in Unleash).
    pub warnings: Vec<String>,
}

/// Parse an import file: a client-features body, or a delta-events body.
///
/// # Errors
/// 400 when it is neither.
pub fn parse_import(raw: &[u8]) -> Result<ClientFeaturesBody, Error> {
    let v: Value =
        serde_json::from_slice(raw).map_err(|e| Error::BadRequest(format!("invalid JSON: {e}")))?;
    if v.get("events").is_some() && v.get("features").is_none() {
        return engine::delta_to_body(v)
            .map_err(|e| Error::BadRequest(format!("invalid delta body: {e}")));
    }
    if !v.get("features").is_some_and(Value::is_array) {
        return Err(Error::BadRequest(
            "expected a /api/client/features body with a \"features\" array".into(),
        ));
    }
    serde_json::from_value(v)
        .map_err(|e| Error::BadRequest(format!("invalid client-features body: {e}")))
}

/// Apply `body` to `state`: flags go to `project`, their configuration to `env`; segments
/// keep their ids (replacing same-id segments). Missing project / environment are created.
///
/// # Errors
/// 400 on empty names.
pub fn apply_import(
    state: &mut State,
    body: &ClientFeaturesBody,
    project: &str,
    env: &str,
) -> Result<ImportReport, Error> {
    if project.is_empty() || env.is_empty() {
        return Err(Error::BadRequest(
            "project and environment must not be empty".into(),
        ));
    }
    let created_at = now();
    state
        .projects
        .entry(project.to_owned())
        .or_insert_with(|| Project {
            id: project.to_owned(),
            name: project.to_owned(),
            description: None,
            created_at: created_at.clone(),
        });
    let next_sort = i64::try_from(state.environments.len()).unwrap_or(0) + 1;
    state
        .environments
        .entry(env.to_owned())
        .or_insert_with(|| Environment {
            name: env.to_owned(),
            env_type: "development".into(),
            enabled: true,
            sort_order: next_sort,
        });
    let mut report = ImportReport {
        warnings: engine::lint(body),
        ..ImportReport::default()
    };
    for seg in body.segments.iter().flatten() {
        state.segments.insert(
            seg.id,
            Segment {
                id: seg.id,
                name: seg
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("segment-{}", seg.id)),
                description: None,
                project: None,
                constraints: seg.constraints.clone(),
                created_at: created_at.clone(),
            },
        );
        report.segments += 1;
    }
    for f in &body.features {
        if f.name.is_empty() {
            return Err(Error::BadRequest("a feature has an empty name".into()));
        }
        let feature = state
            .features
            .entry(f.name.clone())
            .or_insert_with(|| Feature {
                name: f.name.clone(),
                project: project.to_owned(),
                feature_type: "release".into(),
                description: None,
                impression_data: false,
                stale: false,
                archived: false,
                archived_at: None,
                created_at: created_at.clone(),
                tags: Vec::new(),
                dependencies: Vec::new(),
                environments: BTreeMap::new(),
            });
        feature.project = project.to_owned();
        feature.feature_type = f.feature_type.clone().unwrap_or_else(|| "release".into());
        feature.description.clone_from(&f.description);
        feature.impression_data = f.impression_data;
        feature.stale = f.stale;
        feature.archived = false;
        feature.archived_at = None;
        feature.dependencies = f.dependencies.clone().unwrap_or_default();
        let mut strategies = f.strategies.clone();
        for (i, s) in strategies.iter_mut().enumerate() {
            if s.id.is_none() {
                s.id = Some(uuid::Uuid::new_v4().to_string());
            }
            if s.sort_order.is_none() {
                s.sort_order = Some(i64::try_from(i).unwrap_or(0));
            }
        }
        feature.environments.insert(
            env.to_owned(),
            FeatureEnv {
                enabled: f.enabled,
                strategies,
                variants: f.variants.clone(),
            },
        );
        report.features += 1;
    }
    Ok(report)
}

/// Import `raw` into `project` / `env` through `store` (one transaction, one event).
///
/// # Errors
/// 400 on a bad file; storage failures.
pub async fn import_into(
    store: &Store,
    actor: &str,
    raw: &[u8],
    project: &str,
    env: &str,
) -> Result<ImportReport, Error> {
    let body = parse_import(raw)?;
    for w in engine::lint(&body) {
        tracing::warn!(warning = %w, "flags import: kept, evaluates to false");
    }
    store
        .mutate(actor, |s| {
            let report = apply_import(s, &body, project, env)?;
            let ev = EventDraft::new(
                "features-imported",
                serde_json::json!({"features": report.features, "segments": report.segments, "warnings": report.warnings}),
            )
            .env(env);
            let ev = EventDraft { project: Some(project.to_owned()), ..ev };
            Ok((report, vec![ev]))
        })
        .await
}

/// Import a file straight into storage (the server need not run; `opshelf flags import`).
///
/// # Errors
/// 400 on a bad file; storage failures.
pub async fn import(
    storage: opshelf_core::StorageView,
    raw: &[u8],
    project: &str,
    env: &str,
) -> Result<ImportReport, Error> {
    let store = Store::open(storage, Default::default()).await?;
    import_into(&store, "cli", raw, project, env).await
}

/// The client-features body of `env` (optionally one project), pretty-printed, as
/// `opshelf flags export` writes it.
///
/// # Errors
/// 404 for an unknown environment; storage failures.
pub async fn export(
    storage: opshelf_core::StorageView,
    env: &str,
    project: Option<&str>,
) -> Result<Vec<u8>, Error> {
    let store = Store::open(storage, Default::default()).await?;
    let state = store.state().await;
    export_state(&state, env, project)
}

/// The export body of `state`.
///
/// # Errors
/// 404 for an unknown environment.
pub fn export_state(state: &State, env: &str, project: Option<&str>) -> Result<Vec<u8>, Error> {
    if !state.environments.contains_key(env) {
        return Err(Error::NotFound(format!("no environment {env}")));
    }
    let mut body = state.client_body(env);
    if let Some(p) = project {
        body.features.retain(|f| f.project.as_deref() == Some(p));
    }
    let used: std::collections::BTreeSet<i64> = body
        .features
        .iter()
        .flat_map(|f| f.strategies.iter().flat_map(|s| s.segments.iter().copied()))
        .collect();
    if let Some(segs) = body.segments.as_mut() {
        segs.retain(|s| used.contains(&s.id));
    }
    serde_json::to_vec_pretty(&body).map_err(|e| Error::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn import_export_round_trip_keeps_unknowns_and_segments() {
        let ctx = opshelf_core::Context::for_tests().await;
        let raw = std::fs::read(crate::testutil::shared(
            "samples/client-features-v2.sample.json",
        ))
        .unwrap();
        let report = import(ctx.storage.clone(), &raw, "default", "staging")
            .await
            .unwrap();
        assert_eq!(report.features, 3);
        assert_eq!(report.segments, 1);
        let out = export(ctx.storage.clone(), "staging", None).await.unwrap();
        let a: ClientFeaturesBody = serde_json::from_slice(&raw).unwrap();
        let b: ClientFeaturesBody = serde_json::from_slice(&out).unwrap();
        assert_eq!(a.features.len(), b.features.len());
        for x in &a.features {
            let y = b.features.iter().find(|y| y.name == x.name).unwrap();
            assert_eq!(x.enabled, y.enabled);
            assert_eq!(x.variants, y.variants);
            assert_eq!(x.strategies.len(), y.strategies.len());
            assert_eq!(x.strategies[0].constraints, y.strategies[0].constraints);
            assert_eq!(x.strategies[0].parameters, y.strategies[0].parameters);
            assert_eq!(x.strategies[0].segments, y.strategies[0].segments);
            assert_eq!(x.strategies[0].variants, y.strategies[0].variants);
        }
        assert_eq!(
            b.segments.unwrap()[0].constraints,
            a.segments.unwrap()[0].constraints
        );

        let odd = br#"{"version":2,"features":[{"name":"x","enabled":true,"strategies":[{"name":"custom","constraints":[{"contextName":"a","operator":"NEW_OP","values":["1"]}]}]}]}"#;
        let report = import(ctx.storage.clone(), odd, "default", "staging")
            .await
            .unwrap();
        assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
        let out =
            String::from_utf8(export(ctx.storage.clone(), "staging", None).await.unwrap()).unwrap();
        assert!(out.contains("NEW_OP") && out.contains("\"custom\""));
        assert!(matches!(
            export(ctx.storage.clone(), "nope", None).await,
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn rejects_what_is_not_a_features_body() {
        assert!(parse_import(b"{").is_err());
        assert!(parse_import(b"[]").is_err());
        assert!(parse_import(br#"{"features": 3}"#).is_err());
        let delta = br#"{"events":[{"type":"hydration","eventId":1,"features":[{"name":"a","enabled":true}],"segments":[]}]}"#;
        assert_eq!(parse_import(delta).unwrap().features[0].name, "a");
    }

    #[test]
    fn mangled_bodies_never_panic_the_parser_or_the_engine() {
        use rand::{Rng, SeedableRng};
        let sample = std::fs::read(crate::testutil::shared(
            "samples/client-features-v2.sample.json",
        ))
        .unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet = b"{}[]\":,0123456789-.eE truefalsnul\\";
        for round in 0..3000 {
            let mut bytes = sample.clone();
            for _ in 0..(1 + round % 8) {
                let at = rng.random_range(0..bytes.len());
                match rng.random_range(0..3) {
                    0 => bytes[at] = alphabet[rng.random_range(0..alphabet.len())],
                    1 => {
                        bytes.remove(at);
                    }
                    _ => bytes.insert(at, alphabet[rng.random_range(0..alphabet.len())]),
                }
            }
            if let Ok(body) = parse_import(&bytes) {
                let mut state = State::initial("t");
                if apply_import(&mut state, &body, "default", "development").is_ok() {
                    let (engine, _) = engine::Engine::compile(&state.client_body("development"));
                    let _ = engine.evaluate_all(&engine::EvalContext::default(), |_| true);
                }
            }
        }
    }
}
