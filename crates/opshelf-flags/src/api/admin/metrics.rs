//! SDK usage: `/api/admin/metrics/applications`, `/api/admin/client-metrics/features/{feature}`.

use axum::extract::{Path, State as AxState};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::{Res, admin, ok};
use crate::api::App;

/// `GET /api/admin/metrics/applications`.
pub async fn list_applications(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let apps = app.usage.applications(app.store.storage()).await?;
    Ok(ok(json!({"applications": apps})))
}

/// `GET /api/admin/client-metrics/features/{feature}`: reported yes/no/variant counts per app.
pub async fn feature_usage(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let by_app = app.usage.of_flag(app.store.storage(), &name).await?;
    let data: Vec<Value> = by_app
        .into_iter()
        .map(|(a, c)| json!({"appName": a, "yes": c.yes, "no": c.no, "variants": c.variants}))
        .collect();
    Ok(ok(json!({"version": 1, "featureName": name, "data": data})))
}
