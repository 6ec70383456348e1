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
        ApiError(ErrorDetail { code, message: message.into(), candidates: Vec::new(), existing: None })
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
            // The conversations a message about a listing may go to (from an integrator's trial:
            // they were only in the prose).
            ServiceError::Conflict(crate::service::Conflict::WhichConversation { conversations, .. }) => {
                conversations.iter().map(|(id, _, _)| id.to_hex()).collect()
            }
            _ => Vec::new(),
        };
        // What a retried request finds done already (from an integrator's trial: its id was
        // only in the prose, ten characters of it).
        let existing = match &e {
            ServiceError::Conflict(
                crate::service::Conflict::SameListing { id, .. }
                | crate::service::Conflict::SameOffer(id)
                | crate::service::Conflict::SameRequest { request: id, .. },
            ) => Some(id.to_hex()),
            _ => None,
        };
        ApiError(ErrorDetail { code, message: e.to_string(), candidates, existing })
    }
}

impl From<NodeGone> for ApiError {
    fn from(e: NodeGone) -> Self {
        ApiError::new(ErrorCode::ShuttingDown, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::Conflict;
    use haggle_protocol::ObjectId;

    /// From an integrator's trial: a message about a listing two people had written about was
    /// refused with the conversations in the prose only, where `candidates` names them.
    #[test]
    fn the_conversations_a_message_may_go_to_are_candidates() {
        let key = haggle_protocol::fixtures::key(2).public();
        let [a, b] = [ObjectId::from_bytes([1; 32]), ObjectId::from_bytes([2; 32])];
        let e = ServiceError::Conflict(Conflict::WhichConversation {
            listing: ObjectId::from_bytes([3; 32]),
            conversations: vec![(a, key, None), (b, key, Some("Bob".into()))],
            threads: Vec::new(),
        });
        let ApiError(detail) = ApiError::from(e);
        assert_eq!(detail.code, ErrorCode::Ambiguous);
        assert_eq!(detail.candidates, vec![a.to_hex(), b.to_hex()]);
    }

    /// From an integrator's trial: a retried offer whose first answer was lost was refused with
    /// the open thread's id as ten characters of prose; `existing` names it whole.
    #[test]
    fn a_request_done_already_names_what_is_there() {
        let thread = ObjectId::from_bytes([4; 32]);
        let ApiError(detail) = ApiError::from(ServiceError::Conflict(Conflict::SameOffer(thread)));
        assert_eq!((detail.code, detail.existing), (ErrorCode::Conflict, Some(thread.to_hex())));
        let ApiError(other) = ApiError::from(ServiceError::Conflict(Conflict::StepsMissing(thread)));
        assert_eq!(other.existing, None);
    }
}
