//! The local API: HTTP + JSON on 127.0.0.1, every request authenticated by the random token in
//! `api.cookie` (new at each start, mode 0600), as bitcoind's cookie auth. Errors are JSON
//! `{"error": {"code", "message"}}` with a stable [`types::ErrorCode`]. A server-sent event
//! stream carries live [`types::NodeEvent`]s.
//!
//! [`types`] holds every request and response; the server here and
//! [`crate::client::ApiClient`] share them.

mod error;
mod files;
mod handlers;
mod server;
pub mod types;

pub(crate) use server::serve;
