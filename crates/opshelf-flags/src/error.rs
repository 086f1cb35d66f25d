//! The crate's error type, mapped onto opshelf's [`ErrorCode`] and rendered the way
//! unleash-server renders errors: `{"id", "name", "message", "details": [{"message"}]}`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use opshelf_core::error::ErrorCode;

/// What can go wrong in the flag server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Malformed or invalid input (400).
    #[error("{0}")]
    BadRequest(String),
    /// Missing or unknown token (401).
    #[error("{0}")]
    Unauthorized(String),
    /// A valid token of the wrong type or scope (403).
    #[error("{0}")]
    Forbidden(String),
    /// No such thing (404).
    #[error("{0}")]
    NotFound(String),
    /// Already exists, or a concurrent change won (409).
    #[error("{0}")]
    Conflict(String),
    /// The storage backend failed.
    #[error("storage: {0}")]
    Storage(#[from] opshelf_core::StorageError),
    /// A bug or an impossible state.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The protocol-independent code.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::Unauthorized(_) => ErrorCode::Unauthorized,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Conflict(_) => ErrorCode::Conflict,
            Self::Storage(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }

    /// unleash-server's error name for this kind.
    fn unleash_name(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "BadDataError",
            Self::Unauthorized(_) => "AuthenticationRequired",
            Self::Forbidden(_) => "NoAccessError",
            Self::NotFound(_) => "NotFoundError",
            Self::Conflict(_) => "NameExistsError",
            Self::Storage(_) | Self::Internal(_) => "UnknownError",
        }
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let code = self.code();
        let message = match &self {
            Self::Storage(e) => {
                tracing::error!(error = %e, "flags: storage failure");
                "storage failure".to_owned()
            }
            Self::Internal(e) => {
                tracing::error!(error = %e, "flags: internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        let body = serde_json::json!({
            "id": uuid::Uuid::new_v4().to_string(),
            "name": self.unleash_name(),
            "message": message,
            "details": [{"message": message}],
        });
        (
            code.status(),
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}
