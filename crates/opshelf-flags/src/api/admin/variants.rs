//! Variants of a flag in one environment (`.../environments/{env}/variants`), with Unleash's
//! weight normalisation.

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::HeaderMap;
use serde_json::json;

use super::{Res, admin, env_of, feature_in, feature_ref, ok, to_value, valid_name};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::model::Variant;
use crate::state::EventDraft;

/// `GET .../environments/{env}/variants`.
pub async fn get_variants(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env)): Path<(String, String, String)>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let f = feature_ref(&s, &project, &name)?;
    let variants = f
        .environments
        .get(&env)
        .map(|e| e.variants.clone())
        .unwrap_or_default();
    Ok(ok(json!({"version": 1, "variants": variants})))
}

/// `PUT .../environments/{env}/variants` with the whole variant list.
pub async fn put_variants(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((project, name, env)): Path<(String, String, String)>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let mut variants: Vec<Variant> = parse_json(&body)?;
    for v in &variants {
        valid_name("variant", &v.name)?;
    }
    normalize_weights(&mut variants)?;
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            let envs = s.environments.clone();
            let f = feature_in(s, &project, &name)?;
            let fe = env_of(f, &envs, &env)?;
            let pre = to_value(&fe.variants);
            fe.variants.clone_from(&variants);
            let view = to_value(&variants);
            Ok((
                json!({"version": 1, "variants": view.clone()}),
                vec![
                    EventDraft::new("feature-environment-variants-updated", view)
                        .pre(pre)
                        .feature(&name, &project)
                        .env(&env),
                ],
            ))
        })
        .await?;
    Ok(ok(view))
}

/// Unleash's fixed / variable weights: fixed ones keep their weight, variable ones share the
/// rest of 1000 evenly (the first ones get the remainder).
fn normalize_weights(variants: &mut [Variant]) -> Result<(), Error> {
    let fixed: i64 = variants
        .iter()
        .filter(|v| v.weight_type.as_deref() == Some("fix"))
        .map(|v| v.weight)
        .sum();
    let variable = variants
        .iter()
        .filter(|v| v.weight_type.as_deref() != Some("fix"))
        .count();
    if fixed > 1000 || variants.iter().any(|v| v.weight < 0) {
        return Err(Error::BadRequest(
            "fixed variant weights must not exceed 1000".into(),
        ));
    }
    let n = i64::try_from(variable).unwrap_or(1);
    if n == 0 {
        return Ok(());
    }
    let share = (1000 - fixed) / n;
    let mut rest = (1000 - fixed) % n;
    for v in variants
        .iter_mut()
        .filter(|v| v.weight_type.as_deref() != Some("fix"))
    {
        v.weight = share + i64::from(rest > 0);
        rest -= i64::from(rest > 0);
        v.weight_type = Some("variable".into());
    }
    Ok(())
}
