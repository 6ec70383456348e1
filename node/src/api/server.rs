//! Binding the API, writing `api.cookie` and `api.addr`, the routes, and authentication.

use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::files;
use super::handlers::{self, AppState};
use super::types::ErrorCode;
use crate::config::NodeConfig;
use crate::error::StartError;
use crate::handle::NodeHandle;
use crate::node::{ADDR_FILE, COOKIE_FILE};
use crate::service::Service;

/// Largest picture upload: a 2 MiB picture once stripped, with room for its metadata.
const IMAGE_UPLOAD_LIMIT: usize = 8 * 1024 * 1024;
/// Largest preview upload.
const BLOB_UPLOAD_LIMIT: usize = 2 * 1024 * 1024;

/// Binds the API, writes `api.cookie` and `api.addr`, and serves until `shutdown`.
pub(crate) async fn serve(
    data_dir: &Path,
    config: &NodeConfig,
    service: Service,
    handle: NodeHandle,
    shutdown: CancellationToken,
) -> Result<(SocketAddr, JoinHandle<()>), StartError> {
    if !config.api.ip().is_loopback() && !config.api_public {
        return Err(StartError::ApiNotLoopback(config.api));
    }
    // Taken as asked, and said where the owner looks: the token crosses the network unencrypted.
    if !config.api.ip().is_loopback() {
        tracing::warn!(
            api = %config.api,
            "the local API listens beyond this machine, over plain HTTP: whoever can read the token on the way controls this node; an SSH tunnel to a loopback API (ssh -L 7401:127.0.0.1:7401 HOST) keeps it private"
        );
    }
    let listener = tokio::net::TcpListener::bind(config.api)
        .await
        .map_err(|source| StartError::ApiBind { addr: config.api, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::ApiBind { addr: config.api, source })?;
    let token = random_token();
    write_private(&data_dir.join(COOKIE_FILE), &token)?;
    write_private(&data_dir.join(ADDR_FILE), &addr.to_string())?;
    let started_at = haggle_protocol::Timestamp::now().as_millis();
    let settings = crate::api::types::SettingsView {
        cache_mib: config.cache_mib,
        max_listings: config.max_listings,
        target_peers: config.target_peers,
        sync_secs: config.sync_secs,
        pow_bits: config.pow_bits.min(haggle_protocol::work::MAX_BASE_BITS),
        blob_budget_mib: config.blob_budget_mib,
        // As reputation counts them: distinct keys, the owner's own left out.
        trusted_keys: service.trusted_keys(),
        trust_hops: config.trust_hops,
        changed: config.changed_settings(&[
            "cache_mib",
            "max_listings",
            "target_peers",
            "sync_secs",
            "pow_bits",
            "blob_budget_mib",
            "trusted_keys",
            "trust_hops",
        ]),
    };
    let app = router(AppState { service, handle, token, shutdown: shutdown.clone(), started_at, settings });
    let task = tokio::spawn(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "API server failed");
        }
    });
    Ok((addr, task))
}

fn router(state: AppState) -> Router {
    use handlers::*;
    // Endpoints that take no query parameters refuse any, as `/v1/search` refuses one it does
    // not know: a misspelt parameter is an error, not ignored.
    let plain = Router::new()
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/listings/{id}", get(show_listing).patch(update))
        .route("/v1/listings/{id}/renew", post(renew))
        .route("/v1/listings/{id}/retract", post(retract))
        .route("/v1/listings/{id}/offers", post(offer))
        .route("/v1/listings/{id}/bids", post(bid))
        .route("/v1/listings/{id}/pledges", post(pledge))
        .route("/v1/threads/{id}", get(show_thread))
        .route("/v1/threads/{id}/decline", post(decline))
        .route("/v1/threads/{id}/withdraw", post(withdraw))
        .route("/v1/deals/{id}", get(show_deal))
        .route("/v1/deals/{id}/steps", post(deal_step))
        .route("/v1/deals/{id}/feedback", post(feedback))
        .route("/v1/reputation/{key}", get(reputation))
        .route("/v1/blocked", get(blocked).post(block))
        .route("/v1/blocked/{who}", delete(unblock))
        .route("/v1/names", get(names).post(set_name))
        .route("/v1/names/{who}", delete(clear_name))
        .route("/v1/saved", get(saved))
        .route("/v1/saved/{name}", get(peek_saved).put(save_search).delete(unsave_search))
        .route("/v1/saved/{name}/look", post(look_at_saved))
        .route("/v1/messages", get(conversations))
        .route("/v1/messages/{id}", get(conversation).post(send_note))
        .route("/v1/messages/{id}/read", post(read_conversation))
        .route("/v1/blobs", post(files::store_blob).layer(DefaultBodyLimit::max(BLOB_UPLOAD_LIMIT)))
        .route("/v1/blobs/fetch", post(files::fetch_blob))
        .route("/v1/blobs/{hash}", get(files::get_blob))
        .route("/v1/blobs/{hash}/status", get(files::blob_status))
        .route("/v1/deals/{id}/download", post(files::start_download))
        .route("/v1/deals/{id}/file", get(files::download))
        .route_layer(middleware::from_fn(refuse_query));
    Router::new()
        .route("/v1/search", get(search))
        .route("/v1/images", post(files::store_image).layer(DefaultBodyLimit::max(IMAGE_UPLOAD_LIMIT)))
        .route("/v1/files", post(files::store_file))
        // `?as_offered=true` (and no other parameter: the extractor names a misspelt one).
        .route("/v1/threads/{id}/counter", post(counter))
        .route("/v1/threads/{id}/accept", post(accept))
        // `?exact=true`, likewise.
        .route("/v1/objects/{id}", get(show_object))
        // `?todo=true&open=true&limit=N&offset=N`, likewise.
        .route("/v1/threads", get(threads))
        .route("/v1/deals", get(deals))
        // `?since=MS`, likewise.
        .route("/v1/listings/closed", get(closed_listings))
        // A GET picks the owner's listings by its parameters; a POST (publish) takes none.
        .route("/v1/listings", post(publish).route_layer(middleware::from_fn(refuse_query)).get(my_listings))
        .route("/v1/events", get(events))
        // A scraper may add parameters of its own.
        .route("/metrics", get(metrics))
        .merge(plain)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound, "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(middleware::from_fn(json_errors))
        .with_state(state)
}

/// Refuses a query string on an endpoint that takes none, naming what was sent.
async fn refuse_query(request: Request, next: Next) -> Response {
    match request.uri().query().filter(|q| !q.is_empty()) {
        None => next.run(request).await,
        Some(query) => {
            // The names only, a few and short: the answer never echoes a long string back.
            let names: Vec<String> = query
                .split('&')
                .filter(|p| !p.is_empty())
                .take(4)
                .map(|p| p.split('=').next().unwrap_or(p).chars().take(32).collect())
                .collect();
            ApiError::new(
                ErrorCode::BadRequest,
                format!("{} takes no query parameters (got `{}`)", request.uri().path(), names.join("`, `")),
            )
            .into_response()
        }
    }
}

/// Every error is JSON with a code: the answers axum makes by itself (a method an endpoint does
/// not take, an upload over its limit, a range outside a file) come as empty or plain text, and
/// are rewritten, their `allow` and `content-range` headers kept.
async fn json_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if json {
        return response;
    }
    let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let error = match status {
        405 => ApiError::new(
            ErrorCode::MethodNotAllowed,
            // axum adds the `allow` header after this layer has run.
            format!("{path} does not take this method (the `allow` header lists those it takes)"),
        ),
        413 => {
            let limit = match path.as_str() {
                "/v1/images" => IMAGE_UPLOAD_LIMIT,
                "/v1/blobs" => BLOB_UPLOAD_LIMIT,
                _ => handlers::JSON_LIMIT,
            };
            ApiError::new(
                ErrorCode::TooLarge,
                format!("the request body is over the limit of {} MiB for {path}", limit >> 20),
            )
        }
        416 => ApiError::new(
            ErrorCode::RangeNotSatisfiable,
            format!(
                "the range asked is outside the file (content-range: {})",
                header(axum::http::header::CONTENT_RANGE)
            ),
        ),
        _ => return response,
    };
    let mut rewritten = error.into_response();
    for name in [axum::http::header::CONTENT_RANGE] {
        if let Some(value) = response.headers().get(&name) {
            rewritten.headers_mut().insert(name, value.clone());
        }
    }
    rewritten
}

/// 32 random bytes as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    data_encoding::HEXLOWER.encode(&bytes)
}

/// Writes `contents` to `path`, readable by the node's user only (mode 0600).
///
/// Written beside it and renamed over it, so the file is never missing: a command that read the
/// last start's address a moment before found no token (a trial's `listings`, run in a loop
/// while the node restarted, read "cannot read the API token" once in 1,500).
fn write_private(path: &Path, contents: &str) -> Result<(), StartError> {
    use std::io::Write;
    let err = |source| StartError::WriteFile { path: path.to_owned(), source };
    let mut beside = path.as_os_str().to_owned();
    beside.push(".new");
    let beside = std::path::PathBuf::from(beside);
    let _ = std::fs::remove_file(&beside);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&beside).map_err(err)?;
    file.write_all(contents.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    std::fs::rename(&beside, path).map_err(err)
}

async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        // The scheme's name is case-insensitive (RFC 9110).
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), state.token.as_bytes()) => next.run(request).await,
        _ => {
            let mut refused = ApiError::new(
                ErrorCode::Unauthorized,
                "missing or wrong token: the token is the contents of the node's api.cookie, in its data \
                 dir (haggle reads it from there, or from HAGGLE_API_TOKEN with --api; other clients \
                 send `Authorization: Bearer <token>`)",
            )
            .into_response();
            // Which scheme to use (RFC 9110).
            refused
                .headers_mut()
                .insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"));
            refused
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
