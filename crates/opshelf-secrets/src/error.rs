//! The secrets capability's errors, mapped to an [`ErrorCode`] and rendered in Vault's own
//! body: `{"errors":["..."]}` (a bare 404 is `{"errors":[]}`).

use axum::http::header;
use axum::response::{IntoResponse, Response};
use opshelf_core::error::ErrorCode;
use opshelf_core::storage::StorageError;

/// Everything a secrets request or start-up can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Vault is sealed")]
    Sealed,
    #[error("Vault is not initialized")]
    NotInitialized,
    #[error("permission denied")]
    PermissionDenied,
    /// Vault's bare 404 (`{"errors":[]}`).
    #[error("not found")]
    NotFound,
    /// A 404 with a message (unknown route).
    #[error("{0}")]
    NotFoundMsg(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("1 error occurred:\n\t* unsupported operation\n\n")]
    UnsupportedOperation,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("internal error")]
    Internal(String),
    /// A 500 whose message Vault shows to clients (transit backup / restore refusals).
    #[error("{0}")]
    ServerMsg(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The protocol-independent kind of this error.
    #[must_use]
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Sealed | Self::NotInitialized => ErrorCode::Unavailable,
            Self::PermissionDenied => ErrorCode::Forbidden,
            Self::NotFound | Self::NotFoundMsg(_) => ErrorCode::NotFound,
            Self::BadRequest(_) => ErrorCode::BadRequest,
            Self::UnsupportedOperation => ErrorCode::MethodNotAllowed,
            Self::UnsupportedMediaType(_) => ErrorCode::UnsupportedMediaType,
            Self::TooManyRequests(_) => ErrorCode::TooManyRequests,
            Self::Internal(_) | Self::ServerMsg(_) | Self::Storage(_) | Self::Io(_) => {
                ErrorCode::Internal
            }
        }
    }

    /// The strings of Vault's `errors` array.
    #[must_use]
    pub fn messages(&self) -> Vec<String> {
        match self {
            Self::NotFound => Vec::new(),
            // never leak storage or internal details to clients; they are logged
            Self::Internal(_) | Self::Storage(_) | Self::Io(_) => vec!["internal error".to_owned()],
            other => vec![other.to_string()],
        }
    }

    pub(crate) fn bad(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if matches!(self, Self::Internal(_) | Self::Storage(_) | Self::Io(_)) {
            tracing::error!(error = %self, detail = ?self, "secrets request failed");
        }
        let body = serde_json::json!({ "errors": self.messages() });
        (
            self.code().status(),
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}

/// Shorthand.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_follow_vault() {
        assert_eq!(Error::NotFound.messages(), Vec::<String>::new());
        assert_eq!(Error::Sealed.messages(), vec!["Vault is sealed"]);
        assert_eq!(Error::Sealed.code().status().as_u16(), 503);
        assert_eq!(Error::PermissionDenied.code().status().as_u16(), 403);
        assert_eq!(
            Error::Internal("db path /x".into()).messages(),
            vec!["internal error"]
        );
        assert_eq!(Error::UnsupportedOperation.code().status().as_u16(), 405);
    }
}
