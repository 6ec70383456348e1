//! The local API: HTTP + JSON on 127.0.0.1, every request authenticated by the random token in
//! `api.cookie` (new at each start, mode 0600), as bitcoind's cookie auth. Errors are JSON
//! `{"error": {"code", "message"}}` with a stable code. A server-sent event stream carries live
//! events.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path as UrlPath, Request, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::middleware::{self, Next};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::Stream;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;

use haggle_storage::{SearchError, SearchQuery, Sort};

use crate::config::NodeConfig;
use crate::error::StartError;
use crate::handle::{NodeEvent, NodeHandle};
use crate::node::{ADDR_FILE, COOKIE_FILE};
use crate::service::{Effect, ListingDraft, ListingPatch, Service, ServiceError, TermsDraft};
use crate::views;

#[derive(Clone)]
struct AppState {
    service: Service,
    handle: NodeHandle,
    token: String,
}

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
    let listener = tokio::net::TcpListener::bind(config.api)
        .await
        .map_err(|source| StartError::ApiBind { addr: config.api, source })?;
    let addr = listener.local_addr().map_err(|source| StartError::ApiBind { addr: config.api, source })?;
    let token = random_token();
    write_private(&data_dir.join(COOKIE_FILE), &token)?;
    write_private(&data_dir.join(ADDR_FILE), &addr.to_string())?;
    let state = AppState { service, handle, token };
    let app = router(state);
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
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/peers", get(peers))
        .route("/v1/listings", post(publish).get(my_listings))
        .route("/v1/listings/{id}", get(show_listing).patch(update))
        .route("/v1/listings/{id}/renew", post(renew))
        .route("/v1/listings/{id}/retract", post(retract))
        .route("/v1/listings/{id}/offers", post(offer))
        .route("/v1/objects/{id}", get(show_object))
        .route("/v1/search", get(search))
        .route("/v1/threads", get(threads))
        .route("/v1/threads/{id}", get(show_thread))
        .route("/v1/threads/{id}/counter", post(counter))
        .route("/v1/threads/{id}/accept", post(accept))
        .route("/v1/threads/{id}/decline", post(decline))
        .route("/v1/threads/{id}/withdraw", post(withdraw))
        .route("/v1/deals", get(deals))
        .route("/v1/deals/{id}", get(show_deal))
        .route("/v1/events", get(events))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state)
}

/// 32 random bytes as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    data_encoding::HEXLOWER.encode(&bytes)
}

fn write_private(path: &Path, contents: &str) -> Result<(), StartError> {
    use std::io::Write;
    let err = |source| StartError::WriteFile { path: path.to_owned(), source };
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    file.write_all(contents.as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)
}

async fn authenticate(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(token) if constant_time_eq(token.as_bytes(), state.token.as_bytes()) => next.run(request).await,
        _ => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or wrong token: send `Authorization: Bearer <contents of api.cookie>`",
        )
        .into_response(),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error as the API reports it.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    candidates: Vec<String>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), candidates: Vec::new() }
    }

    fn internal(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "API request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "code": self.code, "message": self.message });
        if !self.candidates.is_empty() {
            error["candidates"] = json!(self.candidates);
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let message = e.to_string();
        match e {
            ServiceError::NotFound { .. } => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            ServiceError::Ambiguous { candidates, .. } => ApiError {
                candidates: candidates.iter().map(|c| c.to_hex()).collect(),
                ..ApiError::new(StatusCode::CONFLICT, "ambiguous", message)
            },
            ServiceError::BadId(_)
            | ServiceError::Invalid(_)
            | ServiceError::Amount(_)
            | ServiceError::Sign(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid", message),
            ServiceError::NotYours(_) => ApiError::new(StatusCode::FORBIDDEN, "not_yours", message),
            ServiceError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
            ServiceError::Store(e) => ApiError::internal(e),
        }
    }
}

impl From<SearchError> for ApiError {
    fn from(e: SearchError) -> Self {
        match e {
            SearchError::Store(e) => ApiError::internal(e),
            e => ApiError::new(StatusCode::BAD_REQUEST, "invalid", e.to_string()),
        }
    }
}

impl From<crate::error::NodeGone> for ApiError {
    fn from(e: crate::error::NodeGone) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", e.to_string())
    }
}

/// JSON body extractor whose rejections are our JSON errors.
struct Body<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", json_rejection(&e))),
        }
    }
}

fn json_rejection(e: &JsonRejection) -> String {
    format!("malformed request body: {}", e.body_text())
}

/// Query-string extractor whose rejections are our JSON errors.
struct Params<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(e) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", query_rejection(&e))),
        }
    }
}

fn query_rejection(e: &QueryRejection) -> String {
    format!("malformed query: {}", e.body_text())
}

/// Runs blocking store work off the async runtime.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Service) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let service = state.service.clone();
    tokio::task::spawn_blocking(move || work(&service)).await.map_err(ApiError::internal)?
}

/// Hands an action's network work to the event loop and returns the stored object's view.
async fn apply(state: &AppState, effect: Effect) -> Result<Json<Value>, ApiError> {
    let me = state.service.me();
    for bytes in &effect.publish {
        state.handle.publish(bytes.clone()).await?;
    }
    if let Some(to) = effect.deliver_to {
        state.handle.deliver(to).await?;
    }
    if effect.object.kind().is_public() {
        state.handle.emit(NodeEvent::ListingPublished { id: effect.object.id().to_hex() });
    }
    if let Some(deal) = effect.deal {
        let thread = effect.object.body().reply().map_or(effect.object.id(), |r| r.thread);
        state.handle.emit(NodeEvent::DealMade { id: deal.to_hex(), thread: thread.to_hex() });
    }
    let object = effect.object.into_inner();
    let deal = effect.deal.map(|d| d.to_hex());
    blocking(state, move |service| {
        let mut view = views::object(service.store(), &object, &me).map_err(ApiError::internal)?;
        view["deal"] = json!(deal);
        Ok(Json(view))
    })
    .await
}

async fn status(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let network = state.handle.status().await?;
    let me = state.service.me();
    let store = blocking(&state, |service| {
        let stats = service.store().stats().map_err(ApiError::internal)?;
        let outbox = service.store().outbox_pending().map_err(ApiError::internal)?.len();
        Ok((stats, outbox))
    })
    .await?;
    let (stats, outbox) = store;
    Ok(Json(json!({
        "peer_id": me.to_string(),
        "version": env!("CARGO_PKG_VERSION"),
        "data_dir": state.service.store().path().display().to_string(),
        "network": network,
        "store": {
            "active_listings": stats.active_listings,
            "closed_listings": stats.closed_listings,
            "threads": stats.threads,
            "deals": stats.deals,
            "index_pending": stats.index_pending,
            "size_on_disk": stats.size_on_disk,
        },
        "outbox_pending": outbox,
    })))
}

async fn peers(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "peers": state.handle.peers().await? })))
}

async fn publish(
    State(state): State<AppState>,
    Body(draft): Body<ListingDraft>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| s.publish(draft).map_err(ApiError::from)).await?;
    apply(&state, effect).await
}

async fn update(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(patch): Body<ListingPatch>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| s.update(&id, patch).map_err(ApiError::from)).await?;
    apply(&state, effect).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RenewRequest {
    /// Seconds from now (default 30 days).
    expires_in: Option<u64>,
}

async fn renew(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<RenewRequest>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| {
        s.renew(&id, req.expires_in.map(Duration::from_secs)).map_err(ApiError::from)
    })
    .await?;
    apply(&state, effect).await
}

async fn retract(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| s.retract(&id).map_err(ApiError::from)).await?;
    apply(&state, effect).await
}

async fn my_listings(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    blocking(&state, |s| {
        let me = s.me();
        let entries = s.store().listings_by(&me).map_err(ApiError::internal)?;
        let listings: Vec<Value> = entries
            .iter()
            .map(|e| views::listing(s.store(), &e.object, &me))
            .collect::<Result<_, _>>()
            .map_err(ApiError::internal)?;
        Ok(Json(json!({ "listings": listings })))
    })
    .await
}

async fn show_listing(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(&state, move |s| {
        let listing = s.listing(&id)?;
        Ok(Json(views::listing(s.store(), &listing, &s.me()).map_err(ApiError::internal)?))
    })
    .await
}

async fn show_object(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(&state, move |s| {
        let object_id = s.resolve(&id, "object")?;
        if let Some(deal) = s.store().deal(&object_id).map_err(ApiError::internal)?
            && s.store().get(&object_id).map_err(ApiError::internal)?.is_none()
        {
            return Ok(Json(views::deal(&deal)));
        }
        let object =
            s.store().get(&object_id).map_err(ApiError::internal)?.ok_or_else(|| {
                ApiError::from(ServiceError::NotFound { what: "object", given: id.clone() })
            })?;
        if object.kind().is_public() {
            let current = s.listing(&object_id.to_hex())?;
            return Ok(Json(views::listing(s.store(), &current, &s.me()).map_err(ApiError::internal)?));
        }
        let thread = s.thread(&object_id.to_hex())?;
        Ok(Json(views::thread(s.store(), &thread, &s.me()).map_err(ApiError::internal)?))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct SearchParams {
    q: String,
    kind: Option<String>,
    category: Option<String>,
    min_price: Option<String>,
    max_price: Option<String>,
    currency: Option<String>,
    seller: Option<String>,
    near: Option<String>,
    sort: Option<String>,
    limit: Option<usize>,
    offset: Option<usize>,
}

fn bad(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
}

impl SearchParams {
    fn into_query(self) -> Result<SearchQuery, ApiError> {
        let currency = self
            .currency
            .map(|c| c.parse::<haggle_protocol::Currency>().map_err(|e| bad(e.to_string())))
            .transpose()?;
        let amount = |text: Option<String>| -> Result<Option<u64>, ApiError> {
            let Some(text) = text else { return Ok(None) };
            let currency =
                currency.as_ref().ok_or_else(|| bad(SearchError::PriceWithoutCurrency.to_string()))?;
            currency.parse_amount(&text).map(Some).map_err(|e| bad(e.to_string()))
        };
        Ok(SearchQuery {
            text: self.q,
            kind: self.kind.map(|k| k.parse().map_err(bad)).transpose()?,
            category: self.category,
            min_price: amount(self.min_price)?,
            max_price: amount(self.max_price)?,
            currency: currency.clone(),
            seller: self
                .seller
                .map(|s| s.parse().map_err(|e: haggle_protocol::ParseKeyError| bad(e.to_string())))
                .transpose()?,
            location: self.near,
            sort: self.sort.map(|s| s.parse::<Sort>().map_err(bad)).transpose()?.unwrap_or_default(),
            offset: self.offset.unwrap_or(0),
            limit: self.limit.unwrap_or(20),
        })
    }
}

async fn search(
    State(state): State<AppState>,
    Params(params): Params<SearchParams>,
) -> Result<Json<Value>, ApiError> {
    let query = params.into_query()?;
    blocking(&state, move |s| {
        let results = s.store().search(&query)?;
        let me = s.me();
        let hits: Vec<Value> = results
            .hits
            .iter()
            .map(|h| {
                let mut v = views::listing(s.store(), &h.listing, &me)?;
                v["score"] = json!(h.score);
                Ok(v)
            })
            .collect::<Result<_, haggle_storage::StoreError>>()
            .map_err(ApiError::internal)?;
        Ok(Json(json!({ "total": results.total, "offset": query.offset, "hits": hits })))
    })
    .await
}

async fn offer(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(draft): Body<TermsDraft>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| s.offer(&id, draft).map_err(ApiError::from)).await?;
    apply(&state, effect).await
}

async fn counter(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(draft): Body<TermsDraft>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| s.counter(&id, draft).map_err(ApiError::from)).await?;
    apply(&state, effect).await
}

async fn accept(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| s.accept(&id).map_err(ApiError::from)).await?;
    apply(&state, effect).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct MessageBody {
    message: String,
}

async fn decline(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(body): Body<MessageBody>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| s.decline(&id, body.message).map_err(ApiError::from)).await?;
    apply(&state, effect).await
}

async fn withdraw(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(body): Body<MessageBody>,
) -> Result<Json<Value>, ApiError> {
    let effect = blocking(&state, move |s| s.withdraw(&id, body.message).map_err(ApiError::from)).await?;
    apply(&state, effect).await
}

async fn threads(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    blocking(&state, |s| {
        let me = s.me();
        let threads = s.store().threads_of(&me).map_err(ApiError::internal)?;
        let views: Vec<Value> = threads
            .iter()
            .map(|t| views::thread(s.store(), t, &me))
            .collect::<Result<_, _>>()
            .map_err(ApiError::internal)?;
        Ok(Json(json!({ "threads": views })))
    })
    .await
}

async fn show_thread(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(&state, move |s| {
        let thread = s.thread(&id)?;
        Ok(Json(views::thread(s.store(), &thread, &s.me()).map_err(ApiError::internal)?))
    })
    .await
}

async fn deals(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    blocking(&state, |s| {
        let deals = s.store().deals_of(&s.me()).map_err(ApiError::internal)?;
        Ok(Json(json!({ "deals": deals.iter().map(views::deal).collect::<Vec<_>>() })))
    })
    .await
}

async fn show_deal(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    blocking(&state, move |s| {
        let deal_id = s.resolve(&id, "deal")?;
        let deal = s
            .store()
            .deal(&deal_id)
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::from(ServiceError::NotFound { what: "deal", given: id.clone() }))?;
        Ok(Json(views::deal(&deal)))
    })
    .await
}

async fn events(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = BroadcastStream::new(state.handle.subscribe()).filter_map(|item| match item {
        Ok(event) => Some(Ok(Event::default().json_data(&event).unwrap_or_else(|_| Event::default()))),
        // A subscriber that fell behind is told how much it missed.
        Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
            Some(Ok(Event::default().event("lagged").data(n.to_string())))
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
