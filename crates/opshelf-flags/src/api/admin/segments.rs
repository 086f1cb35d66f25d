//! `/api/admin/segments`: list, create, read, update, delete (refused while a strategy uses one).

use axum::body::Bytes;
use axum::extract::{Path, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Res, admin, check_constraints, created, ok, valid_name};
use crate::api::{App, parse_json};
use crate::error::Error;
use crate::model::Constraint;
use crate::state::{EventDraft, Segment};
use crate::store::now;

/// `GET /api/admin/segments`.
pub async fn list_segments(AxState(app): AxState<App>, headers: HeaderMap) -> Res {
    admin(&app, &headers)?;
    let s = app.store.state().await;
    let v: Vec<Value> = s.segments.values().map(segment_view).collect();
    Ok(ok(json!({"segments": v})))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SegmentIn {
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    project: Option<String>,
    #[serde(default)]
    constraints: Vec<Constraint>,
}

/// `POST /api/admin/segments`.
pub async fn create_segment(AxState(app): AxState<App>, headers: HeaderMap, body: Bytes) -> Res {
    let who = admin(&app, &headers)?;
    let input: SegmentIn = parse_json(&body)?;
    valid_name("segment", &input.name)?;
    check_constraints(&input.constraints)?;
    let view = app
        .store
        .mutate(&who.token_name, |s| {
            if s.segments.values().any(|x| x.name == input.name) {
                return Err(Error::Conflict(format!(
                    "a segment named {} already exists",
                    input.name
                )));
            }
            let id = s.next_segment_id();
            let seg = Segment {
                id,
                name: input.name,
                description: input.description,
                project: input.project,
                constraints: input.constraints,
                created_at: now(),
            };
            let view = segment_view(&seg);
            s.segments.insert(id, seg);
            Ok((view.clone(), vec![EventDraft::new("segment-created", view)]))
        })
        .await?;
    Ok(created(view))
}

fn segment_id(raw: &str) -> Result<i64, Error> {
    raw.parse()
        .map_err(|_| Error::BadRequest(format!("segment id must be a number, not {raw:?}")))
}

/// `GET /api/admin/segments/{id}`.
pub async fn get_segment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    admin(&app, &headers)?;
    let id = segment_id(&id)?;
    let s = app.store.state().await;
    let seg = s
        .segments
        .get(&id)
        .ok_or_else(|| Error::NotFound(format!("Could not find segment {id}")))?;
    Ok(ok(segment_view(seg)))
}

/// `PUT /api/admin/segments/{id}`.
pub async fn update_segment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Res {
    let who = admin(&app, &headers)?;
    let id = segment_id(&id)?;
    let input: SegmentIn = parse_json(&body)?;
    valid_name("segment", &input.name)?;
    check_constraints(&input.constraints)?;
    app.store
        .mutate(&who.token_name, |s| {
            let seg = s
                .segments
                .get_mut(&id)
                .ok_or_else(|| Error::NotFound(format!("Could not find segment {id}")))?;
            let pre = segment_view(seg);
            seg.name = input.name;
            seg.description = input.description;
            seg.project = input.project;
            seg.constraints = input.constraints;
            let view = segment_view(seg);
            Ok(((), vec![EventDraft::new("segment-updated", view).pre(pre)]))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/admin/segments/{id}` (409 while a strategy uses it).
pub async fn delete_segment(
    AxState(app): AxState<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Res {
    let who = admin(&app, &headers)?;
    let id = segment_id(&id)?;
    app.store
        .mutate(&who.token_name, |s| {
            let used = s.features.values().any(|f| {
                f.environments
                    .values()
                    .any(|e| e.strategies.iter().any(|st| st.segments.contains(&id)))
            });
            if used {
                return Err(Error::Conflict(format!("segment {id} is in use")));
            }
            let seg = s
                .segments
                .remove(&id)
                .ok_or_else(|| Error::NotFound(format!("Could not find segment {id}")))?;
            Ok((
                (),
                vec![EventDraft::new("segment-deleted", Value::Null).pre(segment_view(&seg))],
            ))
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn segment_view(seg: &Segment) -> Value {
    json!({"id": seg.id, "name": seg.name, "description": seg.description, "project": seg.project,
           "constraints": seg.constraints, "createdAt": seg.created_at})
}
