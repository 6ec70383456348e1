//! Errors as the API reports them: a stable code (which fixes the HTTP status) and a message.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::types::{ErrorBody, ErrorCode, ErrorDetail};
use crate::error::NodeGone;
use crate::service::ServiceError;

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError(ErrorDetail);

impl ApiError {
    pub(crate) fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError(ErrorDetail { code, message: message.into(), candidates: Vec::new() })
    }

    /// A failure of this node (a task that panicked, a store that failed).
    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "API request failed");
        ApiError::new(ErrorCode::Internal, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.0.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(ErrorBody { error: self.0 })).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let code = e.code();
        if let Some(store) = e.store().filter(|s| s.needs_restart()) {
            return ApiError::internal(format!(
                "{e}. The node stops now: fix the cause ({}) and start it again; \
                 if this request changed something, whether it was kept shows after the restart",
                store.fix()
            ));
        }
        if code == ErrorCode::Internal {
            return ApiError::internal(e);
        }
        let candidates = match &e {
            ServiceError::Ambiguous { candidates, .. } => candidates.iter().map(|c| c.to_hex()).collect(),
            _ => Vec::new(),
        };
        ApiError(ErrorDetail { code, message: e.to_string(), candidates })
    }
}

impl From<NodeGone> for ApiError {
    fn from(e: NodeGone) -> Self {
        ApiError::new(ErrorCode::ShuttingDown, e.to_string())
    }
}
