//! One handler per endpoint: decode the typed request, run the service on the blocking pool,
//! hand an action's network work to the event loop, answer with the typed view.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path as UrlPath, Request, State};
use axum::http::request::Parts;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::de::DeserializeOwned;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use super::error::ApiError;
use super::types::{
    AsOffered, BidRequest, BlockChange, BlockRequest, BlockedPage, ClosedPage, ConversationView,
    ConversationsPage, DealView, DealsPage, DeliveryState, ErrorCode, EventsParams, FeedbackRequest,
    GossipState, ListingDraft, ListingPatch, ListingView, ListingsPage, ListingsParams, MessageBody,
    NameChange, NameRequest, NamesPage, NoteRequest, ObjectView, PeersPage, PledgeRequest, RenewRequest,
    ReputationView, SavedLook, SavedPage, SavedView, SearchPage, SearchParams, SentView, ShowParams,
    SinceParams, StatusView, StepRequest, TermsDraft, ThreadView, ThreadsPage,
};
use crate::api::types::NodeEvent;
use crate::handle::NodeHandle;
use crate::service::{Effect, Service, ServiceError};

/// What every handler can reach.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) service: Service,
    pub(crate) handle: NodeHandle,
    pub(crate) token: String,
    /// Cancelled when the node stops: open event streams end, so shutdown never waits on them.
    pub(crate) shutdown: tokio_util::sync::CancellationToken,
    /// When the node started (ms since the epoch), for `status`.
    pub(crate) started_at: u64,
    /// The settings it runs with, for `status`.
    pub(crate) settings: crate::api::types::SettingsView,
}

type Answer<T> = Result<Json<T>, ApiError>;

/// JSON body extractor whose rejections are our JSON errors.
pub(crate) struct Body<T>(pub(super) T);

/// The body of a request that takes none: nothing, or `{}`. Anything else is refused before
/// the action, which cannot be taken back (an accept makes a deal, a retraction closes the
/// listing): terms sent to `accept` by mistake must not be accepted as the other party's.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoFields {}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // No body at all reads as `{}`: a request whose fields are all optional (renew, retract)
        // needs none; one with a required field is told which.
        // A length of 0 is no body whatever the content type (from a trial: HTTP libraries
        // send `Content-Type: application/json` on every POST, and an empty retract was refused
        // as JSON cut short).
        // Nor does a request with neither a length nor a chunked body carry one, content type or
        // not (from an integrator's trial: curl's `-X POST -H 'Content-Type: application/json'`
        // without `-d` was refused as JSON cut short).
        let headers = req.headers();
        let length = headers.get(axum::http::header::CONTENT_LENGTH);
        let empty = length.is_some_and(|n| n.as_bytes() == b"0")
            || (length.is_none() && !headers.contains_key(axum::http::header::TRANSFER_ENCODING));
        if empty {
            return serde_json::from_str("{}").map(Body).map_err(|e| {
                // Not "at line 1 column 2" of a body the client never sent.
                let e = e.to_string();
                let e = e.split(" at line ").next().unwrap_or_default();
                let e = crate::config::plain_types(e);
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("malformed request body: {e} (the request had no body)"),
                )
            });
        }
        match Json::<serde_json::Value>::from_request(req, state).await {
            // serde reads a struct from an array too, by position: `[]` would pass for `{}`.
            Ok(Json(v)) if !v.is_object() => Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("malformed request body: expected a JSON object, found {}", json_kind(&v)),
            )),
            // The field is named with the mistake (`price: invalid type: the number `12`, expected
            // a string`): serde's own words name only the type.
            Ok(Json(mut v)) => {
                without_nulls(&mut v);
                serde_path_to_error::deserialize(v).map(Body).map_err(|e| {
                    let path = e.path().to_string();
                    let e = crate::config::plain_types(&e.into_inner().to_string());
                    match path.as_str() {
                        "." | "" => {
                            ApiError::new(ErrorCode::BadRequest, format!("malformed request body: {e}"))
                        }
                        _ => ApiError::new(
                            ErrorCode::BadRequest,
                            format!("malformed request body: {path}: {e}"),
                        ),
                    }
                })
            }
            Err(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                ErrorCode::TooLarge,
                format!("the request body is over the limit of {} MiB for JSON", JSON_LIMIT >> 20),
            )),
            Err(e) => Err(ApiError::new(ErrorCode::BadRequest, json_rejection(&e))),
        }
    }
}

/// `v` without the fields of its objects that are `null`: every field a request may leave out
/// means the same left out or null (from an integrator's trial: `"per": null` was taken and
/// `"description": null` refused, while answers carry nulls a client may send back).
fn without_nulls(v: &mut serde_json::Value) {
    if let serde_json::Value::Object(fields) = v {
        fields.retain(|_, field| !field.is_null());
        fields.values_mut().for_each(without_nulls);
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// axum's limit on a request body, which JSON requests keep (uploads have their own).
pub(super) const JSON_LIMIT: usize = 2 * 1024 * 1024;

fn json_rejection(e: &JsonRejection) -> String {
    // axum's wording before serde's message says nothing the message does not.
    let text = e.body_text();
    let text =
        text.strip_prefix("Failed to deserialize the JSON body into the target type: ").unwrap_or(&text);
    format!("malformed request body: {text}")
}

/// Query-string extractor whose rejections are our JSON errors.
pub(crate) struct Params<T>(pub(super) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(e) => Err(ApiError::new(ErrorCode::BadRequest, query_rejection(&e))),
        }
    }
}

fn query_rejection(e: &QueryRejection) -> String {
    // axum's wording before serde's message says nothing the message does not (a trial read
    // `Failed to deserialize query string: since: invalid digit found in string`).
    let text = e.body_text();
    let text = text.strip_prefix("Failed to deserialize query string: ").unwrap_or(&text);
    format!("malformed query: {text}")
}

/// Runs blocking service work off the async runtime.
pub(super) async fn blocking<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Service) -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ApiError> {
    let service = state.service.clone();
    let done = tokio::task::spawn_blocking(move || {
        let done = work(&service);
        if let Err(e) = &done {
            service.check_store(e);
        }
        done
    });
    Ok(done.await.map_err(ApiError::internal)??)
}

/// Hands an action's network work to the event loop: gossip, delivery, events. Says whether
/// what it gossiped went out (`None` when there was nothing to gossip).
///
/// A node stopping (SIGTERM) between the action and its network work answers that it is
/// stopping (what it published: `Stopping`), not with an error: the action is stored and
/// flushed, queued messages go out from the outbox at the next start and what it published by
/// sync, and a trial's user, told "the node has shut down" of an offer that was made, offered
/// again.
async fn apply(state: &AppState, effect: Effect) -> Result<Option<GossipState>, ApiError> {
    let publishes = !effect.then.publish.is_empty();
    match state.handle.follow_up(effect.then).await {
        Ok(gossip) => Ok(gossip),
        Err(crate::error::NodeGone) => {
            tracing::info!("the node stops: what was asked is saved, and goes out when it runs again");
            Ok(publishes.then_some(GossipState::Stopping))
        }
    }
}

/// Runs `work` (an action, and what the answer needs of it) on the blocking pool, then hands the
/// action's network work to the event loop, both in a task of their own: a client that hangs up
/// does not cut the action between its store and its gossip (an integrator trial's publish
/// with a 50 ms timeout was stored, and never gossiped or announced).
async fn act<T: Send + 'static>(
    state: &AppState,
    work: impl FnOnce(&Service) -> Result<(Effect, T), ServiceError> + Send + 'static,
) -> Result<(T, Option<GossipState>), ApiError> {
    to_the_end(state, move |state| async move {
        let (effect, out) = blocking(&state, work).await?;
        let gossip = apply(&state, effect).await?;
        Ok((out, gossip))
    })
    .await
}

/// Runs `work` in a task of its own, so that it ends as it would have had the client waited
/// for the answer: a client that hangs up drops only the answer. The task's type is one for
/// every caller (its answer boxed): a task spawned per handler type added 0.2 MB of code.
async fn to_the_end<T, F>(state: &AppState, work: impl FnOnce(AppState) -> F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    let work = work(state.clone());
    let task: ErasedTask =
        Box::pin(async move { work.await.map(|t| Box::new(t) as Box<dyn std::any::Any + Send>) });
    let answer = tokio::spawn(task).await.map_err(ApiError::internal)??;
    answer.downcast::<T>().map(|t| *t).map_err(|_| ApiError::internal("a task answered with another type"))
}

/// A task of [`to_the_end`].
type ErasedTask = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Box<dyn std::any::Any + Send>, ApiError>> + Send>,
>;

/// Runs an action, hands its network work to the event loop, then answers with `view` of it.
/// The network work comes first: the object is stored, so it must go out even if the view
/// cannot be read.
async fn action<V: Send + 'static>(
    state: &AppState,
    action: impl FnOnce(&Service) -> Result<Effect, ServiceError> + Send + 'static,
    view: impl FnOnce(&Service, &Effect) -> Result<V, ServiceError> + Send + 'static,
) -> Result<(V, Option<GossipState>), ApiError> {
    let (view, gossip) = act(state, move |s| {
        let effect = action(s)?;
        let view = view(s, &effect);
        Ok((effect, view))
    })
    .await?;
    Ok((view?, gossip))
}

/// Runs a listing action and answers with the listing (tagged `"type": "listing"`) and whether
/// the revision went out by gossip.
async fn listing_action(
    state: &AppState,
    listing: impl FnOnce(&Service) -> Result<Effect, ServiceError> + Send + 'static,
) -> Answer<ObjectView> {
    let (view, gossip) = action(state, listing, |s, effect| s.effect_listing(effect)).await?;
    Ok(Json(ObjectView::Listing(ListingView { gossip, ..view })))
}

/// How long a negotiation action waits for the other party's node to take its message, when
/// that node is connected, before answering "queued" or "sent" (it goes out all the same).
const DELIVERY_WAIT: Duration = Duration::from_secs(3);

/// Runs a negotiation action and answers with the message and its thread. When the other party
/// is connected, the answer waits (at most [`DELIVERY_WAIT`]) for its node to take the message
/// or refuse it, so that "queued" is not said of a message about to be delivered.
async fn negotiation_action(
    state: &AppState,
    negotiation: impl FnOnce(&Service) -> Result<Effect, ServiceError> + Send + 'static,
) -> Answer<SentView> {
    // Subscribed before the message goes out, so its delivery cannot be missed.
    let mut events = state.handle.subscribe();
    let ((view, at_once, to), _) = act(state, move |s| {
        let effect = negotiation(s)?;
        let view = s.effect_sent(&effect);
        let at_once = s.taken_at_once(&effect.object);
        let to: Vec<libp2p::PeerId> = effect.then.deliver.iter().map(|k| k.peer_id()).collect();
        Ok((effect, (view, at_once, to)))
    })
    .await?;
    let view = view?;
    let waiting = matches!(view.thread.delivery, Some(DeliveryState::Queued | DeliveryState::Sent));
    if !waiting || to.is_empty() {
        return Ok(Json(view));
    }
    // The message is stored and queued by now: a failed read below answers with what was
    // read before, never with an error (a retry would send it twice).
    let (id, thread) = (view.id, view.thread.thread);
    // An accept is done when the proposer's node confirms it, and an offer the other node takes
    // by itself (an instant booking, a digital good at its price) when this node confirms that
    // node's accept: the answer then names the deal.
    let accept = view.kind == super::types::ObjectKind::Accept;
    let waited = wait_for_delivery(state, &mut events, &to, |event| match event {
        NodeEvent::DeliveryChanged { id: changed, state } if *changed == id => match state {
            DeliveryState::Failed => true,
            DeliveryState::Delivered => !accept && !at_once,
            _ => false,
        },
        NodeEvent::DealMade { thread: made, .. } => *made == thread,
        // Not taken after all (the nights went meanwhile): the answer says so.
        NodeEvent::NegotiationReceived { thread: t, kind, .. } => {
            *t == thread && at_once && *kind != super::types::ObjectKind::Accept
        }
        _ => false,
    })
    .await;
    if !waited {
        return Ok(Json(view));
    }
    match blocking(state, move |s| s.thread_view(&id.to_hex())).await {
        Ok(thread) => Ok(Json(SentView { thread, ..view })),
        Err(_) => Ok(Json(view)),
    }
}

/// Waits, at most [`DELIVERY_WAIT`], until `done` says an event ends the wait, if one of `to`
/// is connected (a message to a party away is queued: there is nothing to wait for). Says
/// whether it waited. A lagged receiver ends the wait: the caller reads its view again anyway.
async fn wait_for_delivery(
    state: &AppState,
    events: &mut tokio::sync::broadcast::Receiver<NodeEvent>,
    to: &[libp2p::PeerId],
    done: impl Fn(&NodeEvent) -> bool,
) -> bool {
    if to.is_empty() {
        return false;
    }
    let Ok(connected) = state.handle.peers().await else { return false };
    if !connected.iter().any(|p| to.contains(&p.peer_id)) {
        return false;
    }
    let _ = tokio::time::timeout(DELIVERY_WAIT, async {
        loop {
            match events.recv().await {
                Ok(event) if done(&event) => return,
                Ok(_) => {}
                Err(_) => return,
            }
        }
    })
    .await;
    true
}

pub(crate) async fn status(State(state): State<AppState>) -> Answer<StatusView> {
    let network = state.handle.status().await?;
    // The file system's room is asked on the blocking pool too (a stalled disk stalls it).
    let ((store, outbox_pending), disk) =
        blocking(&state, |s| Ok((s.counts()?, fs4::statvfs(s.data_dir()).ok()))).await?;
    Ok(Json(StatusView {
        peer_id: state.service.me(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.service.data_dir().display().to_string(),
        network,
        store,
        outbox_pending,
        files_size: state.service.files_size(),
        started_at: state.started_at,
        proof_of_work: state.service.working(),
        disk_free: disk.as_ref().map(fs4::FsStats::available_space),
        disk_total: disk.as_ref().map(fs4::FsStats::total_space),
        settings: state.settings.clone(),
    }))
}

/// `GET /metrics`: the Prometheus text format, with the gauges read now.
pub(crate) async fn metrics(
    State(state): State<AppState>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let network = state.handle.status().await?;
    let text = blocking(&state, move |s| s.metrics_text(&network)).await?;
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    Ok(([(axum::http::header::CONTENT_TYPE, content_type)], text))
}

pub(crate) async fn peers(State(state): State<AppState>) -> Answer<PeersPage> {
    Ok(Json(PeersPage { peers: state.handle.peers().await? }))
}

pub(crate) async fn publish(
    State(state): State<AppState>,
    Body(draft): Body<ListingDraft>,
) -> Answer<ObjectView> {
    listing_action(&state, move |s| s.publish(draft)).await
}

pub(crate) async fn update(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(patch): Body<ListingPatch>,
) -> Answer<ObjectView> {
    listing_action(&state, move |s| s.update(&id, patch)).await
}

pub(crate) async fn renew(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(req): Body<RenewRequest>,
) -> Answer<ObjectView> {
    listing_action(&state, move |s| s.renew(&id, req.expires_in.map(Duration::from_secs))).await
}

pub(crate) async fn retract(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(NoFields {}): Body<NoFields>,
) -> Answer<ObjectView> {
    listing_action(&state, move |s| s.retract(&id)).await
}

pub(crate) async fn my_listings(
    State(state): State<AppState>,
    Params(params): Params<ListingsParams>,
) -> Answer<ListingsPage> {
    blocking(&state, move |s| s.my_listings(&params)).await.map(Json)
}

pub(crate) async fn closed_listings(
    State(state): State<AppState>,
    Params(params): Params<SinceParams>,
) -> Answer<ClosedPage> {
    blocking(&state, move |s| s.closed_since(params.since)).await.map(Json)
}

pub(crate) async fn show_listing(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Answer<ListingView> {
    let view = blocking(&state, move |s| s.listing_view(&id)).await?;
    state.handle.fetch_thumbnails_of(&view);
    Ok(Json(view))
}

pub(crate) async fn show_object(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Params(params): Params<ShowParams>,
) -> Answer<ObjectView> {
    let view = blocking(&state, move |s| s.object_view_with(&id, params.exact)).await?;
    if let ObjectView::Listing(l) = &view {
        state.handle.fetch_thumbnails_of(l);
    }
    Ok(Json(view))
}

pub(crate) async fn search(
    State(state): State<AppState>,
    Params(params): Params<SearchParams>,
) -> Answer<SearchPage> {
    let page = blocking(&state, move |s| s.search(params)).await?;
    // A hit whose thumbnail is not here yet (missed when its listing arrived) gets it now.
    for hit in &page.hits {
        state.handle.fetch_thumbnails_of(hit);
    }
    Ok(Json(page))
}

pub(crate) async fn offer(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(draft): Body<TermsDraft>,
) -> Answer<SentView> {
    negotiation_action(&state, move |s| s.offer(&id, draft)).await
}

pub(crate) async fn bid(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(request): Body<BidRequest>,
) -> Answer<ObjectView> {
    let (view, gossip) =
        action(&state, move |s| s.bid(&id, request), |s, effect| s.effect_public_offer(effect)).await?;
    Ok(Json(ObjectView::Listing(ListingView { gossip, ..view })))
}

pub(crate) async fn pledge(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(request): Body<PledgeRequest>,
) -> Answer<ObjectView> {
    let (view, gossip) =
        action(&state, move |s| s.pledge(&id, request), |s, effect| s.effect_public_offer(effect)).await?;
    Ok(Json(ObjectView::Listing(ListingView { gossip, ..view })))
}

pub(crate) async fn counter(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Params(as_offered): Params<AsOffered>,
    Body(draft): Body<TermsDraft>,
) -> Answer<SentView> {
    negotiation_action(&state, move |s| s.counter_with(&id, draft, as_offered)).await
}

pub(crate) async fn accept(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Params(as_offered): Params<AsOffered>,
    Body(NoFields {}): Body<NoFields>,
) -> Answer<SentView> {
    negotiation_action(&state, move |s| s.accept_with(&id, as_offered)).await
}

pub(crate) async fn decline(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(body): Body<MessageBody>,
) -> Answer<SentView> {
    negotiation_action(&state, move |s| s.decline(&id, body.message)).await
}

pub(crate) async fn withdraw(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(body): Body<MessageBody>,
) -> Answer<SentView> {
    negotiation_action(&state, move |s| s.withdraw(&id, body.message)).await
}

pub(crate) async fn threads(
    State(state): State<AppState>,
    Params(params): Params<crate::api::types::InboxParams>,
) -> Answer<ThreadsPage> {
    blocking(&state, move |s| s.threads_picked(&params)).await.map(Json)
}

pub(crate) async fn show_thread(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Answer<ThreadView> {
    blocking(&state, move |s| s.thread_view(&id)).await.map(Json)
}

pub(crate) async fn deals(
    State(state): State<AppState>,
    Params(params): Params<crate::api::types::InboxParams>,
) -> Answer<DealsPage> {
    blocking(&state, move |s| s.deals_picked(&params)).await.map(Json)
}

pub(crate) async fn deal_step(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(request): Body<StepRequest>,
) -> Answer<DealView> {
    sent_to_party(
        &state,
        move |s| s.deal_step_request(&id, request),
        |s, effect| s.effect_deal(effect),
        |view, step| view.timeline.iter().find(|s| s.id == step).and_then(|s| s.delivery),
        |s, view| s.deal_view(&view.id.to_hex()),
    )
    .await
}

/// Runs an action whose message goes to one other party, hands its network work to the event
/// loop, and answers with `view` of it. When the party is connected and the message is still
/// on its way (`delivery` of it in the view), the answer waits, at most [`DELIVERY_WAIT`], for
/// the party's node to take it or refuse it, and is then read `again`, so that it says
/// delivered or queued truly. (Subscribed before the message goes out, so its delivery cannot
/// be missed.)
async fn sent_to_party<V: Clone + Send + 'static>(
    state: &AppState,
    action: impl FnOnce(&Service) -> Result<Effect, ServiceError> + Send + 'static,
    view: impl FnOnce(&Service, &Effect) -> Result<V, ServiceError> + Send + 'static,
    delivery: impl Fn(&V, super::types::ObjectId) -> Option<DeliveryState>,
    again: impl FnOnce(&Service, &V) -> Result<V, ServiceError> + Send + 'static,
) -> Answer<V> {
    let mut events = state.handle.subscribe();
    let ((view, sent, to), _) = act(state, move |s| {
        let effect = action(s)?;
        let view = view(s, &effect);
        let sent = effect.object.id();
        let to: Vec<libp2p::PeerId> = effect.then.deliver.iter().map(|k| k.peer_id()).collect();
        Ok((effect, (view, sent, to)))
    })
    .await?;
    let view = view?;
    if !matches!(delivery(&view, sent), Some(DeliveryState::Queued | DeliveryState::Sent)) {
        return Ok(Json(view));
    }
    let waited = wait_for_delivery(state, &mut events, &to, |event| {
        matches!(event, NodeEvent::DeliveryChanged { id, state: DeliveryState::Delivered | DeliveryState::Failed } if *id == sent)
    })
    .await;
    if !waited {
        return Ok(Json(view));
    }
    // The message went out: a failed read answers with what was read before.
    let before = view.clone();
    Ok(Json(blocking(state, move |s| again(s, &before)).await.unwrap_or(view)))
}

/// `GET /v1/messages`: the owner's conversations, each with its newest message.
pub(crate) async fn conversations(State(state): State<AppState>) -> Answer<ConversationsPage> {
    blocking(&state, move |s| s.conversations()).await.map(Json)
}

/// `GET /v1/messages/{id}`: the conversation `id` names, read without marking it read.
pub(crate) async fn conversation(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Answer<ConversationView> {
    blocking(&state, move |s| s.conversation_view(&id, false)).await.map(Json)
}

/// `POST /v1/messages/{id}/read`: the conversation, its messages counted as read from now on.
pub(crate) async fn read_conversation(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(NoFields {}): Body<NoFields>,
) -> Answer<ConversationView> {
    blocking(&state, move |s| s.conversation_view(&id, true)).await.map(Json)
}

/// `POST /v1/messages/{id}`: a message to the other key of what `id` names. Like a deal step,
/// the answer waits (at most [`DELIVERY_WAIT`]) for the other party's node to take it when that
/// node is connected.
pub(crate) async fn send_note(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(request): Body<NoteRequest>,
) -> Answer<ConversationView> {
    sent_to_party(
        &state,
        move |s| s.send_note(&id, request.message),
        |s, effect| s.effect_conversation(effect),
        |view, note| view.notes.iter().find(|n| n.id == note).and_then(|n| n.delivery),
        |s, view| {
            let again = s.conversation_view(&view.id.to_hex(), false)?;
            Ok(ConversationView { sent: view.sent, ..again })
        },
    )
    .await
}

pub(crate) async fn feedback(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
    Body(request): Body<FeedbackRequest>,
) -> Answer<DealView> {
    let (view, _) = action(&state, move |s| s.leave_feedback(&id, request), |s, e| s.effect_deal(e)).await?;
    Ok(Json(view))
}

/// `GET /v1/blocked`.
pub(crate) async fn blocked(State(state): State<AppState>) -> Answer<BlockedPage> {
    Ok(Json(state.service.blocked()))
}

/// `POST /v1/blocked`.
pub(crate) async fn block(
    State(state): State<AppState>,
    Body(request): Body<BlockRequest>,
) -> Answer<BlockChange> {
    blocking(&state, move |s| s.block(request)).await.map(Json)
}

/// `DELETE /v1/blocked/{who}`.
pub(crate) async fn unblock(
    State(state): State<AppState>,
    UrlPath(who): UrlPath<String>,
    Body(NoFields {}): Body<NoFields>,
) -> Answer<BlockChange> {
    blocking(&state, move |s| s.unblock(&who)).await.map(Json)
}

/// `GET /v1/names`.
pub(crate) async fn names(State(state): State<AppState>) -> Answer<NamesPage> {
    blocking(&state, |s| s.names()).await.map(Json)
}

/// `POST /v1/names`.
pub(crate) async fn set_name(
    State(state): State<AppState>,
    Body(request): Body<NameRequest>,
) -> Answer<NameChange> {
    blocking(&state, move |s| s.set_name(request)).await.map(Json)
}

/// `DELETE /v1/names/{who}`.
pub(crate) async fn clear_name(
    State(state): State<AppState>,
    UrlPath(who): UrlPath<String>,
    Body(NoFields {}): Body<NoFields>,
) -> Answer<NameChange> {
    blocking(&state, move |s| s.clear_name(&who)).await.map(Json)
}

/// `GET /v1/saved`.
pub(crate) async fn saved(State(state): State<AppState>) -> Answer<SavedPage> {
    blocking(&state, move |s| s.saved_searches()).await.map(Json)
}

/// `PUT /v1/saved/{name}`: the body is the search, as `/v1/search` takes it (in JSON).
pub(crate) async fn save_search(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    Body(search): Body<SearchParams>,
) -> Answer<SavedView> {
    let saved = to_the_end(&state, move |state| async move {
        let saved = blocking(&state, move |s| s.save_search(&name, search)).await?;
        state.handle.announce(NodeEvent::SavedSearchChanged { name: saved.name.clone(), deleted: false });
        Ok(saved)
    })
    .await?;
    Ok(Json(saved))
}

/// `GET /v1/saved/{name}`: what is new, changing nothing.
pub(crate) async fn peek_saved(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
) -> Answer<SavedLook> {
    blocking(&state, move |s| s.look_at_saved(&name, false)).await.map(Json)
}

/// `POST /v1/saved/{name}/look`: what is new, counted as seen from now on.
pub(crate) async fn look_at_saved(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    Body(NoFields {}): Body<NoFields>,
) -> Answer<SavedLook> {
    blocking(&state, move |s| s.look_at_saved(&name, true)).await.map(Json)
}

/// `DELETE /v1/saved/{name}`.
pub(crate) async fn unsave_search(
    State(state): State<AppState>,
    UrlPath(name): UrlPath<String>,
    Body(NoFields {}): Body<NoFields>,
) -> Answer<SavedView> {
    let gone = to_the_end(&state, move |state| async move {
        let gone = blocking(&state, move |s| s.unsave_search(&name)).await?;
        state.handle.announce(NodeEvent::SavedSearchChanged { name: gone.name.clone(), deleted: true });
        Ok(gone)
    })
    .await?;
    Ok(Json(gone))
}

pub(crate) async fn reputation(
    State(state): State<AppState>,
    UrlPath(key): UrlPath<String>,
) -> Answer<ReputationView> {
    blocking(&state, move |s| s.reputation_view(&key)).await.map(Json)
}

pub(crate) async fn show_deal(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Answer<DealView> {
    blocking(&state, move |s| s.deal_view(&id)).await.map(Json)
}

pub(crate) async fn events(
    State(state): State<AppState>,
    Params(params): Params<EventsParams>,
    headers: axum::http::HeaderMap,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    // Subscribed before the recent events are read: an event announced in between comes twice
    // rather than not at all.
    // Each event's SSE `id` is when it was announced (unix ms), the same live and replayed: a
    // client resumes with `?since=` the last one. A routine event, which is not kept for
    // replays, carries the time it is sent.
    let at = |ms: u64| Event::default().id(ms.to_string());
    let recent = state.handle.recent.clone();
    let live = BroadcastStream::new(state.handle.subscribe()).filter_map(move |item| match item {
        Ok(event) => {
            let announced = recent.announced_at(&event).unwrap_or_else(now_ms);
            Some(Ok(at(announced).json_data(&event).unwrap_or_else(|_| Event::default())))
        }
        // A subscriber that fell behind is told how much it missed.
        Err(tokio_stream::wrappers::errors::BroadcastStreamRecvError::Lagged(n)) => {
            Some(Ok(Event::default().event("lagged").data(n.to_string())))
        }
    });
    // `?since=MS`: what was announced since then first, each as a `replayed` event. An SSE
    // client library resumes with the `Last-Event-ID` header instead, the id of the last event
    // it read: taken the same way (from a trial: it replayed nothing).
    let last_event =
        headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    // The later of the two: an EventSource reconnects with its first URL's `since` and the
    // last id it read (from a review: `or` replayed from the first `since` each time).
    let since = params.since.max(last_event);
    let replay = since.map(|since| state.handle.recent.since_at(since)).unwrap_or_default();
    // Events announced since then that are no longer kept are told first, as a live stream's
    // losses are (from a trial: a burst of listings left a replay short, unsaid).
    let missed =
        (replay.missed > 0).then(|| Ok(Event::default().event("lagged").data(replay.missed.to_string())));
    // Asked from before the node started: what it announced before is not kept across a restart,
    // said as such (an integrator trial's resume after a restart heard nothing, and no word of
    // a loss).
    let restarted = since
        .filter(|since| *since < state.started_at)
        .map(|_| Ok(Event::default().event("restarted").data(state.started_at.to_string())));
    let replayed = tokio_stream::iter(restarted.into_iter().chain(missed).chain(
        replay.events.into_iter().map(move |(ms, event)| {
            Ok(at(ms).event("replayed").json_data(&event).unwrap_or_else(|_| Event::default()))
        }),
    ));
    let stream = replayed.chain(live);
    // An open stream would hold the server's graceful shutdown until its timeout.
    let stream = futures::StreamExt::take_until(stream, state.shutdown.clone().cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The time now, in unix ms.
fn now_ms() -> u64 {
    haggle_protocol::Timestamp::now().as_millis()
}
