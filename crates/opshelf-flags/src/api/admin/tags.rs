//! Flag tags (`/api/admin/features/{feature}/tags`): list, add, delete.

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;

use super::{Res, admin, created, ok, to_value, valid_name};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::state::{EventDraft, Tag};

/// `GET /api/admin/features/{feature}/tags`.
pub async fn list_tags(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let f = s
        .features
        .get(&name)
        .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))?;
    Ok(ok(json!({"version": 1, "tags": f.tags})))
}

/// `POST /api/admin/features/{feature}/tags` with `{"type", "value"}`.
pub async fn add_tag(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let tag: Tag = parse_json(&body)?;
    valid_name("tag type", &tag.tag_type)?;
    valid_name("tag value", &tag.value)?;
    app.store
        .mutate(&who.token_name, |s| {
            let f = s
                .features
                .get_mut(&name)
                .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))?;
            if !f.tags.contains(&tag) {
                f.tags.push(tag.clone());
                f.tags.sort();
            }
            let project = f.project.clone();
            Ok((
                (),
                vec![EventDraft::new("feature-tagged", to_value(&tag)).feature(&name, &project)],
            ))
        })
        .await?;
    Ok(created(to_value(&tag)))
}

/// `DELETE /api/admin/features/{feature}/tags/{type}/{value}`.
pub async fn delete_tag(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path((name, tag_type, value)): Path<(String, String, String)>,
) -> Res {
    let who = admin(&app, &headers)?;
    app.store
        .mutate(&who.token_name, |s| {
            let f = s
                .features
                .get_mut(&name)
                .ok_or_else(|| Error::NotFound(format!("Could not find feature {name}")))?;
            f.tags
                .retain(|t| !(t.tag_type == tag_type && t.value == value));
            let project = f.project.clone();
            Ok((
                (),
                vec![
                    EventDraft::new(
                        "feature-untagged",
                        json!({"type": tag_type, "value": value}),
                    )
                    .feature(&name, &project),
                ],
            ))
        })
        .await?;
    Ok(StatusCode::OK.into_response())
}
