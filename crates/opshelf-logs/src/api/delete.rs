//! The compactor's delete API (`pkg/compactor/deletion`): `POST|PUT /loki/api/v1/delete?query=
//! <selector>&start=&end=` → 204; `GET` → the requests; `DELETE ?request_id=` → 204 (cancel;
//! 404 for an unknown id, 400 once the request is processed, with Loki's messages).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::params::{self, Params};
use super::{ApiError, App};
use crate::deletes::Cancelled;

pub async fn create(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&headers)?;
    let query = p
        .get("query")
        .ok_or_else(|| ApiError::bad("query parameter is required"))?;
    let Some(start) = p.get("start") else {
        return Err(ApiError::bad("start time is required"));
    };
    let start = params::parse_time(Some(start), 0)?;
    let end = params::parse_time(p.get("end"), params::now_ns())?;
    if end < start {
        return Err(ApiError::bad("start time can't be greater than end time"));
    }
    if crate::logql_adapter::selector_matchers(query).is_err() {
        return Err(ApiError::bad(
            "invalid query expression: only stream selectors like {app=\"x\"} can be deleted",
        ));
    }
    app.store
        .deletes
        .add(&tenant, query, start, end)
        .await
        .map_err(ApiError::bad)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    let tenant = app.tenant(&headers)?;
    Ok(axum::Json(app.store.deletes.list(&tenant)).into_response())
}

pub async fn cancel(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    p: Params,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&headers)?;
    let id = p
        .get("request_id")
        .ok_or_else(|| ApiError::bad("request_id is required"))?;
    match app
        .store
        .deletes
        .cancel(&tenant, id)
        .await
        .map_err(ApiError::internal)?
    {
        Cancelled::Yes => Ok(StatusCode::NO_CONTENT.into_response()),
        Cancelled::NotFound => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "could not find delete request with given id",
        )),
        Cancelled::Processed => Err(ApiError::bad(
            "deletion of request which is in process or already processed is not allowed",
        )),
    }
}
