//! A blocking client of the local API, for the `haggle` command, tests and tools. It finds the
//! node through `api.addr` and `api.cookie` in the data dir, and speaks the types of
//! [`crate::api::types`].

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::types::{
    BidRequest, BlockChange, BlockRequest, BlockedPage, ClosedPage, ConversationView, ConversationsPage,
    DealView, DealsPage, DownloadView, ErrorBody, ErrorCode, FeedbackRequest, FetchRequest, FileStatus,
    ListingDraft, ListingPatch, ListingView, ListingsPage, ListingsParams, MessageBody, NameChange,
    NameRequest, NamesPage, NodeEvent, NoteRequest, ObjectView, PeersPage, PledgeRequest, RenewRequest,
    ReputationView, SavedLook, SavedPage, SavedView, SearchPage, SearchParams, SentView, StatusView,
    StepRequest, TermsDraft, ThreadView, ThreadsPage,
};
use crate::node::{ADDR_FILE, COOKIE_FILE};

/// What to say when no node answers for `data_dir`: the command that starts one for it, or that
/// the directory does not exist (a mistyped `--data-dir`).
fn no_node(data_dir: &std::path::Path) -> String {
    let shown = data_dir.display();
    if data_dir.exists() {
        format!("no node is running for data dir {shown}: start one with `haggle --data-dir {shown} node`")
    } else {
        format!(
            "no node is running for data dir {shown}, and the directory does not exist: check --data-dir, or start a node there with `haggle --data-dir {shown} node`"
        )
    }
}

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// No node answers for the data dir.
    #[error("{}", no_node(data_dir))]
    NoNode {
        /// The data dir.
        data_dir: PathBuf,
    },
    /// The token file cannot be read.
    #[error("cannot read the API token {path}")]
    Cookie {
        /// The token file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The node answered with an error.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The stable code.
        code: ErrorCode,
        /// The node's message.
        message: String,
        /// For an ambiguous prefix: the ids it matches.
        candidates: Vec<String>,
    },
    /// The node cannot be reached.
    #[error(
        "cannot reach the node at {url}: check the address --api gives (a node's start-up banner says where its API listens), and that a node runs there (haggle node starts one)"
    )]
    Unreachable {
        /// The URL tried.
        url: String,
        /// Why.
        source: Box<ureq::Error>,
    },
    /// The node took the request, then closed the connection without an answer: it stopped,
    /// or was stopped, while it worked on it.
    #[error("{}", dropped(url, *writes))]
    Dropped {
        /// The URL tried.
        url: String,
        /// Whether the request asked for a change, which may have been made.
        writes: bool,
    },
    /// The node took the connection but did not answer in time.
    #[error(
        "the node at {url} took the connection but did not answer within {secs} s: {}it may be hung or overloaded (its log says more; stopping it with Ctrl-C and starting it again may help){}",
        if *writes { "if what you asked needs a proof of work (a listing, an offer, a bid, a rating), it may still be computing it (haggle status says so while it does; minutes for a long listing on a slow machine), or " } else { "" },
        if *writes { MAY_BE_DONE } else { "" }
    )]
    NoAnswer {
        /// Whether the request asked for a change, which may have been made.
        writes: bool,
        /// The URL tried.
        url: String,
        /// How long this command waited.
        secs: u64,
    },
    /// The event stream broke off.
    // The cause below it is the HTTP client's ("Peer disconnected" is the node's end of the
    // connection, not a peer of the network): said plainly first.
    #[error(
        "the event stream from {url} broke off: the node stopped without closing it (killed or crashed?) or the connection to it was cut; haggle status says whether it runs"
    )]
    Stream {
        /// The URL.
        url: String,
        /// Why.
        source: std::io::Error,
    },
    /// The node's answer is not what this client expects (a different version?).
    #[error("the node sent a response this command does not understand (from {url})")]
    BadResponse {
        /// The URL.
        url: String,
        /// Why.
        source: Box<ureq::Error>,
    },
}

impl ClientError {
    /// The API's error code, if the node answered with one.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the node went away: none runs (any more) for the data dir, it cannot be reached,
    /// or it dropped the connection, or stopped answering.
    pub fn node_gone(&self) -> bool {
        matches!(
            self,
            ClientError::NoNode { .. }
                | ClientError::Unreachable { .. }
                | ClientError::Dropped { .. }
                | ClientError::NoAnswer { .. }
                | ClientError::Api { code: ErrorCode::ShuttingDown, .. }
        )
    }
}

/// Talks to one node's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: String,
    agent: ureq::Agent,
    data_dir: Option<PathBuf>,
}

/// Long enough for a search over a large store on a busy machine; short enough that a hung node
/// is reported.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a command that asks for a change waits: long enough for the proof of work of a
/// long listing on a slow machine (a small-machine trial's passed 60 s).
const WRITE_TIMEOUT: Duration = Duration::from_secs(300);

/// `request`, a command that asks for a change, given [`WRITE_TIMEOUT`].
fn writing<B>(request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
    request.config().timeout_global(Some(WRITE_TIMEOUT)).build()
}
/// How long `status` waits: the node answers it from memory, so a node that takes longer is
/// stuck, and status is what a user runs to find out.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

impl ApiClient {
    /// The node whose data dir is `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, ClientError> {
        let no_node = || ClientError::NoNode { data_dir: data_dir.to_owned() };
        let addr = std::fs::read_to_string(data_dir.join(ADDR_FILE)).map_err(|_| no_node())?;
        let cookie_path = data_dir.join(COOKIE_FILE);
        let token = std::fs::read_to_string(&cookie_path)
            .map_err(|source| ClientError::Cookie { path: cookie_path, source })?;
        let mut client = Self::new(&format!("http://{}", addr.trim()), token.trim());
        tracing::debug!(api = %client.base, data_dir = %data_dir.display(), "the node's API, from its data dir");
        client.data_dir = Some(data_dir.to_owned());
        Ok(client)
    }

    /// The data dir this client reads the node's address and token from, if it was made from
    /// one.
    pub fn data_dir(&self) -> Option<&Path> {
        self.data_dir.as_deref()
    }

    /// The same node's API as it is now: read again from its data dir (a node writes a new
    /// token, and may listen on another port, at each start); as it was, for a node given by
    /// address and token.
    pub fn renewed(&self) -> Result<Self, ClientError> {
        match &self.data_dir {
            Some(data_dir) => Self::for_data_dir(data_dir),
            None => Ok(self.clone()),
        }
    }

    /// A node at `base` (e.g. `http://127.0.0.1:7401`) with `token`.
    pub fn new(base: &str, token: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REQUEST_TIMEOUT))
            .build()
            .into();
        ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            agent,
            data_dir: None,
        }
    }

    /// The node's API address, e.g. `http://127.0.0.1:7401`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<StatusView, ClientError> {
        let url = self.url("/v1/status");
        let request = self.agent.get(&url).header("Authorization", self.bearer());
        let request = request.config().timeout_global(Some(STATUS_TIMEOUT)).build();
        self.finish(&url, false, request.call())
    }

    /// `GET /v1/peers`.
    pub fn peers(&self) -> Result<PeersPage, ClientError> {
        self.get("/v1/peers")
    }

    /// `POST /v1/listings`: publishes a listing.
    pub fn publish(&self, draft: &ListingDraft) -> Result<ListingView, ClientError> {
        self.post("/v1/listings", draft)
    }

    /// `PATCH /v1/listings/{id}`: a new revision of one of the owner's listings.
    pub fn update(&self, id: &str, patch: &ListingPatch) -> Result<ListingView, ClientError> {
        self.patch(&format!("/v1/listings/{}", segment(id)), patch)
    }

    /// `POST /v1/listings/{id}/renew`.
    pub fn renew(&self, id: &str, request: &RenewRequest) -> Result<ListingView, ClientError> {
        self.post(&format!("/v1/listings/{}/renew", segment(id)), request)
    }

    /// `POST /v1/listings/{id}/retract`.
    pub fn retract(&self, id: &str) -> Result<ListingView, ClientError> {
        self.post(&format!("/v1/listings/{}/retract", segment(id)), &serde_json::Map::new())
    }

    /// `GET /v1/listings`: the owner's listings `params` pick, a page of them.
    pub fn my_listings(&self, params: &ListingsParams) -> Result<ListingsPage, ClientError> {
        self.get_with("/v1/listings", &params.pairs())
    }

    /// A GET of `path` with the query `pairs`, decoded as `T`.
    fn get_with<T: DeserializeOwned>(
        &self,
        path: &str,
        pairs: &[(&'static str, String)],
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let pairs = pairs.iter().map(|(name, value)| (*name, value.as_str()));
        let request = self.agent.get(&url).header("Authorization", self.bearer()).query_pairs(pairs);
        self.finish(&url, false, request.call())
    }

    /// `GET /v1/listings/closed?since=MS`: others' listings closed since `since` (unix ms).
    pub fn closed_listings(&self, since: u64) -> Result<ClosedPage, ClientError> {
        self.get(&format!("/v1/listings/closed?since={since}"))
    }

    /// `GET /v1/listings/{id}`: a listing's current revision.
    pub fn listing(&self, id: &str) -> Result<ListingView, ClientError> {
        self.get(&format!("/v1/listings/{}", segment(id)))
    }

    /// `GET /v1/objects/{id}`: whatever the id names.
    pub fn object(&self, id: &str) -> Result<ObjectView, ClientError> {
        self.get(&format!("/v1/objects/{}", segment(id)))
    }

    /// `GET /v1/objects/{id}?exact=true`: an earlier listing revision as it read.
    pub fn object_exact(&self, id: &str) -> Result<ObjectView, ClientError> {
        self.get(&format!("/v1/objects/{}?exact=true", segment(id)))
    }

    /// `GET /v1/search`.
    pub fn search(&self, params: &SearchParams) -> Result<SearchPage, ClientError> {
        // Refused here as the node would: text too long for a URL must not reach one.
        crate::service::check_search_text(params).map_err(|e| ClientError::Api {
            status: 400,
            code: ErrorCode::Invalid,
            message: e.to_string(),
            candidates: Vec::new(),
        })?;
        let url = self.url("/v1/search");
        let request = self.agent.get(&url).header("Authorization", self.bearer()).query_pairs(params.pairs());
        self.finish(&url, false, request.call())
    }

    /// `POST /v1/listings/{id}/offers`: an offer on someone's listing.
    pub fn offer(&self, listing: &str, terms: &TermsDraft) -> Result<SentView, ClientError> {
        self.post(&format!("/v1/listings/{}/offers", segment(listing)), terms)
    }

    /// `POST /v1/listings/{id}/bids`: the auction after the bid.
    pub fn bid(&self, listing: &str, request: &BidRequest) -> Result<ListingView, ClientError> {
        self.post(&format!("/v1/listings/{}/bids", segment(listing)), request)
    }

    /// `POST /v1/listings/{id}/pledges`: the campaign after the pledge.
    pub fn pledge(&self, listing: &str, request: &PledgeRequest) -> Result<ListingView, ClientError> {
        self.post(&format!("/v1/listings/{}/pledges", segment(listing)), request)
    }

    /// `POST /v1/threads/{id}/counter`; `as_offered` stands by the revision offered on.
    pub fn counter(
        &self,
        thread: &str,
        terms: &TermsDraft,
        as_offered: bool,
    ) -> Result<SentView, ClientError> {
        self.post(&format!("/v1/threads/{}/counter{}", segment(thread), as_offered_query(as_offered)), terms)
    }

    /// `POST /v1/threads/{id}/accept`; `as_offered` stands by the revision offered on.
    pub fn accept(&self, thread: &str, as_offered: bool) -> Result<SentView, ClientError> {
        self.post(
            &format!("/v1/threads/{}/accept{}", segment(thread), as_offered_query(as_offered)),
            &serde_json::Map::new(),
        )
    }

    /// `POST /v1/threads/{id}/decline`.
    pub fn decline(&self, thread: &str, body: &MessageBody) -> Result<SentView, ClientError> {
        self.post(&format!("/v1/threads/{}/decline", segment(thread)), body)
    }

    /// `POST /v1/threads/{id}/withdraw`.
    pub fn withdraw(&self, thread: &str, body: &MessageBody) -> Result<SentView, ClientError> {
        self.post(&format!("/v1/threads/{}/withdraw", segment(thread)), body)
    }

    /// `GET /v1/threads`.
    pub fn threads(&self) -> Result<ThreadsPage, ClientError> {
        self.get("/v1/threads")
    }

    /// `GET /v1/threads` with `params` (which threads, a page).
    pub fn threads_picked(
        &self,
        params: &crate::api::types::InboxParams,
    ) -> Result<ThreadsPage, ClientError> {
        self.get_with("/v1/threads", &params.pairs())
    }

    /// `GET /v1/deals` with `params` (which deals, a page).
    pub fn deals_picked(&self, params: &crate::api::types::InboxParams) -> Result<DealsPage, ClientError> {
        self.get_with("/v1/deals", &params.pairs())
    }

    /// `GET /v1/threads/{id}`.
    pub fn thread(&self, id: &str) -> Result<ThreadView, ClientError> {
        self.get(&format!("/v1/threads/{}", segment(id)))
    }

    /// `GET /v1/deals`.
    pub fn deals(&self) -> Result<DealsPage, ClientError> {
        self.get("/v1/deals")
    }

    /// `GET /v1/deals/{id}`.
    pub fn deal(&self, id: &str) -> Result<DealView, ClientError> {
        self.get(&format!("/v1/deals/{}", segment(id)))
    }

    /// Signs the owner's next step in a deal (`POST /v1/deals/{id}/steps`).
    pub fn deal_step(&self, id: &str, step: &StepRequest) -> Result<DealView, ClientError> {
        self.post(&format!("/v1/deals/{}/steps", segment(id)), step)
    }

    /// Rates a deal (`POST /v1/deals/{id}/feedback`).
    pub fn feedback(&self, id: &str, request: &FeedbackRequest) -> Result<DealView, ClientError> {
        self.post(&format!("/v1/deals/{}/feedback", segment(id)), request)
    }

    /// What the node can say of an identity: a key or a listing (`GET /v1/reputation/{key}`).
    pub fn reputation(&self, key: &str) -> Result<ReputationView, ClientError> {
        self.get(&format!("/v1/reputation/{}", segment(key)))
    }

    /// `GET /v1/blocked`: the keys the owner blocked.
    pub fn blocked(&self) -> Result<BlockedPage, ClientError> {
        self.get("/v1/blocked")
    }

    /// `POST /v1/blocked`: blocks the key `request.who` names.
    pub fn block(&self, request: &BlockRequest) -> Result<BlockChange, ClientError> {
        self.post("/v1/blocked", request)
    }

    /// `DELETE /v1/blocked/{who}`: unblocks the key `who` names.
    pub fn unblock(&self, who: &str) -> Result<BlockChange, ClientError> {
        let url = self.url(&format!("/v1/blocked/{}", segment(who)));
        let request = writing(self.agent.delete(&url).header("Authorization", self.bearer()));
        self.finish(&url, true, request.call())
    }

    /// `GET /v1/names`: the owner's names for keys.
    pub fn names(&self) -> Result<NamesPage, ClientError> {
        self.get("/v1/names")
    }

    /// `POST /v1/names`: names the key `request.who` names.
    pub fn set_name(&self, request: &NameRequest) -> Result<NameChange, ClientError> {
        self.post("/v1/names", request)
    }

    /// `DELETE /v1/names/{who}`: takes the name of the key `who` names away.
    pub fn clear_name(&self, who: &str) -> Result<NameChange, ClientError> {
        let url = self.url(&format!("/v1/names/{}", segment(who)));
        let request = writing(self.agent.delete(&url).header("Authorization", self.bearer()));
        self.finish(&url, true, request.call())
    }

    /// `GET /v1/saved`: the saved searches, each with what is new.
    pub fn saved(&self) -> Result<SavedPage, ClientError> {
        self.get("/v1/saved")
    }

    /// `PUT /v1/saved/{name}`: saves `search` under `name`.
    pub fn save_search(&self, name: &str, search: &SearchParams) -> Result<SavedView, ClientError> {
        let url = self.url(&format!("/v1/saved/{}", segment(name)));
        let request = writing(self.agent.put(&url).header("Authorization", self.bearer()));
        self.finish(&url, true, request.send_json(search))
    }

    /// What is new for the saved search `name`: `POST /v1/saved/{name}/look` with `mark` (it
    /// counts as seen from then on), else `GET /v1/saved/{name}`.
    pub fn look_at_saved(&self, name: &str, mark: bool) -> Result<SavedLook, ClientError> {
        let path = format!("/v1/saved/{}", segment(name));
        if mark { self.post(&format!("{path}/look"), &serde_json::json!({})) } else { self.get(&path) }
    }

    /// `DELETE /v1/saved/{name}`.
    pub fn unsave_search(&self, name: &str) -> Result<SavedView, ClientError> {
        let url = self.url(&format!("/v1/saved/{}", segment(name)));
        let request = writing(self.agent.delete(&url).header("Authorization", self.bearer()));
        self.finish(&url, true, request.call())
    }

    /// `GET /v1/messages`: the owner's conversations, each with its newest message.
    pub fn conversations(&self) -> Result<ConversationsPage, ClientError> {
        self.get("/v1/messages")
    }

    /// The conversation `id` names: `POST /v1/messages/{id}/read` with `mark` (its messages
    /// count as read from then on), else `GET /v1/messages/{id}`.
    pub fn conversation(&self, id: &str, mark: bool) -> Result<ConversationView, ClientError> {
        let path = format!("/v1/messages/{}", segment(id));
        if mark { self.post(&format!("{path}/read"), &serde_json::json!({})) } else { self.get(&path) }
    }

    /// `POST /v1/messages/{id}`: a message to the other key of what `id` names.
    pub fn send_note(&self, id: &str, message: &str) -> Result<ConversationView, ClientError> {
        self.post(&format!("/v1/messages/{}", segment(id)), &NoteRequest { message: message.to_owned() })
    }

    /// A GET of any endpoint, decoded as `T` (for tools and tests that need an endpoint's raw
    /// JSON; the methods above are typed).
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        let request = self.agent.get(&url).header("Authorization", self.bearer());
        self.finish(&url, false, request.call())
    }

    /// A POST of `body` to any endpoint, decoded as `T`.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let url = self.url(path);
        let request = writing(self.agent.post(&url).header("Authorization", self.bearer()));
        self.finish(&url, true, request.send_json(body))
    }

    /// A PATCH of `body` to any endpoint, decoded as `T`.
    pub fn patch<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T, ClientError> {
        let url = self.url(path);
        let request = writing(self.agent.patch(&url).header("Authorization", self.bearer()));
        self.finish(&url, true, request.send_json(body))
    }

    /// `POST /v1/images`: stores a picture, returns what a draft names it by.
    pub fn upload_image(
        &self,
        bytes: &[u8],
        keep_metadata: bool,
    ) -> Result<haggle_protocol::Image, ClientError> {
        let url = self.url(&format!("/v1/images?keep_metadata={keep_metadata}"));
        let request = writing(self.agent.post(&url).header("Authorization", self.bearer()));
        self.finish(&url, true, request.send(bytes))
    }

    /// `POST /v1/blobs`: stores a file as it is (a preview).
    pub fn upload_blob(&self, bytes: &[u8]) -> Result<haggle_protocol::BlobRef, ClientError> {
        let url = self.url("/v1/blobs");
        let request = writing(self.agent.post(&url).header("Authorization", self.bearer()));
        self.finish(&url, true, request.send(bytes))
    }

    /// `POST /v1/files?name=`: streams a digital good's file to the node, which stores it
    /// encrypted.
    pub fn upload_file(
        &self,
        name: &str,
        mut source: impl std::io::Read,
    ) -> Result<haggle_protocol::DigitalFile, ClientError> {
        let url = self.url("/v1/files");
        let request = self.long_agent().post(&url).header("Authorization", self.bearer()).query("name", name);
        self.finish(&url, true, request.send(ureq::SendBody::from_reader(&mut source)))
    }

    /// `POST /v1/blobs/fetch`: starts fetching a file.
    pub fn fetch_blob(&self, request: &FetchRequest) -> Result<FileStatus, ClientError> {
        self.post("/v1/blobs/fetch", request)
    }

    /// `GET /v1/blobs/{hash}/status`.
    pub fn blob_status(&self, hash: &haggle_protocol::BlobHash) -> Result<FileStatus, ClientError> {
        self.get(&format!("/v1/blobs/{hash}/status"))
    }

    /// `GET /v1/blobs/{hash}` into `out`; returns the bytes written.
    pub fn save_blob(
        &self,
        hash: &haggle_protocol::BlobHash,
        out: impl std::io::Write,
    ) -> Result<u64, ClientError> {
        self.stream(&format!("/v1/blobs/{hash}"), out)
    }

    /// `POST /v1/deals/{id}/download`: starts fetching a bought digital good.
    pub fn start_download(&self, deal: &str) -> Result<DownloadView, ClientError> {
        self.post(&format!("/v1/deals/{}/download", segment(deal)), &serde_json::json!({}))
    }

    /// `GET /v1/deals/{id}/file` into `out`: the bought file, decrypted; returns the bytes written.
    pub fn save_download(&self, deal: &str, out: impl std::io::Write) -> Result<u64, ClientError> {
        self.stream(&format!("/v1/deals/{}/file", segment(deal)), out)
    }

    /// A GET whose body is copied into `out` as it comes.
    fn stream(&self, path: &str, mut out: impl std::io::Write) -> Result<u64, ClientError> {
        let url = self.url(path);
        let response = self
            .long_agent()
            .get(&url)
            .header("Authorization", self.bearer())
            .call()
            .map_err(|e| self.unreachable(&url, false, e))?;
        if !response.status().is_success() {
            return Err(api_error(response));
        }
        let mut reader = response.into_body().into_reader();
        std::io::copy(&mut reader, &mut out).map_err(|source| ClientError::Stream { url, source })
    }

    /// An agent without the overall timeout, for transfers that take as long as they take.
    fn long_agent(&self) -> ureq::Agent {
        ureq::Agent::config_builder().http_status_as_error(false).build().into()
    }

    /// Follows the event stream, calling `each` with every event until it returns false or the
    /// stream ends. Events this build does not know (from a newer node) are skipped.
    pub fn events(&self, each: impl FnMut(NodeEvent) -> bool) -> Result<(), ClientError> {
        self.follow(|| {}, each)
    }

    /// [`ApiClient::events`], calling `ready` first, once the stream is open: the node subscribes
    /// the stream before it answers, so every event from then on comes through.
    pub fn follow(
        &self,
        ready: impl FnOnce(),
        mut each: impl FnMut(NodeEvent) -> bool,
    ) -> Result<(), ClientError> {
        self.follow_since(None, ready, |event, _| each(event), |_| {})
    }

    /// [`ApiClient::follow`], from the events the node announced since `since` (unix ms; it
    /// keeps those of its last 10 minutes): `each` is told whether an event is one of those
    /// (`true`) or live, and `missed` how many the stream could not give (no longer kept for a
    /// replay, or announced faster than this client read them).
    pub fn follow_since(
        &self,
        since: Option<u64>,
        ready: impl FnOnce(),
        mut each: impl FnMut(NodeEvent, bool) -> bool,
        mut missed: impl FnMut(u64),
    ) -> Result<(), ClientError> {
        let url =
            self.url(&since.map_or_else(|| "/v1/events".to_owned(), |s| format!("/v1/events?since={s}")));
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let response = agent
            .get(&url)
            .header("Authorization", self.bearer())
            .call()
            .map_err(|e| self.unreachable(&url, false, e))?;
        if response.status() != 200 {
            return Err(api_error(response));
        }
        ready();
        let reader = BufReader::new(response.into_body().into_reader());
        // An SSE event's name line comes before its data: `replayed` marks a recent one,
        // `lagged` a count of events missed.
        let (mut replayed, mut lagged) = (false, false);
        for line in reader.lines() {
            let line = line.map_err(|source| ClientError::Stream { url: url.clone(), source })?;
            if let Some(name) = line.strip_prefix("event:") {
                replayed = name.trim() == "replayed";
                lagged = name.trim() == "lagged";
            } else if let Some(data) = line.strip_prefix("data:") {
                if std::mem::take(&mut lagged) {
                    if let Ok(n) = data.trim().parse::<u64>() {
                        missed(n);
                    }
                    continue;
                }
                let was_replayed = std::mem::take(&mut replayed);
                if let Ok(event) = serde_json::from_str::<NodeEvent>(data.trim())
                    && !each(event, was_replayed)
                {
                    break;
                }
            }
        }
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Why a request to `url` got no answer; `writes` says whether it asked for a change (which
    /// the node may have made before the connection went).
    fn unreachable(&self, url: &str, writes: bool, e: ureq::Error) -> ClientError {
        use std::io::ErrorKind;
        match (&self.data_dir, &e) {
            (Some(data_dir), ureq::Error::Io(io)) if io.kind() == ErrorKind::ConnectionRefused => {
                ClientError::NoNode { data_dir: data_dir.clone() }
            }
            (_, ureq::Error::Timeout(_)) => ClientError::NoAnswer {
                url: url.to_owned(),
                secs: match (url.ends_with("/v1/status"), writes) {
                    (true, _) => STATUS_TIMEOUT,
                    (false, true) => WRITE_TIMEOUT,
                    (false, false) => REQUEST_TIMEOUT,
                }
                .as_secs(),
                writes,
            },
            // Taken, then dropped: the node stopped (or was stopped) while it worked on it.
            (_, ureq::Error::Io(io))
                if matches!(
                    io.kind(),
                    ErrorKind::UnexpectedEof
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::BrokenPipe
                ) =>
            {
                ClientError::Dropped { url: url.to_owned(), writes }
            }
            _ => ClientError::Unreachable { url: url.to_owned(), source: Box::new(e) },
        }
    }

    /// `error`, unless no node runs for this client's data dir: a node killed outright leaves
    /// its address behind, and another program may answer there now (a wrong token, HTTP 404)
    /// or not at all. Asked only once a request failed, so a running node's lock that cannot
    /// be seen from here (another filesystem's, another platform's) never hides it.
    /// A change the node may have made before it went (dropped, or no answer in time) keeps
    /// its own error, which says so.
    fn gone_or(&self, error: ClientError) -> ClientError {
        let another_program = matches!(
            error,
            ClientError::Api { .. }
                | ClientError::Unreachable { .. }
                | ClientError::BadResponse { .. }
                | ClientError::NoAnswer { writes: false, .. }
        );
        match &self.data_dir {
            Some(data_dir) if another_program && haggle_storage::Store::in_use(data_dir) == Some(false) => {
                tracing::debug!(%error, data_dir = %data_dir.display(), "its database is not in use: no node runs");
                ClientError::NoNode { data_dir: data_dir.clone() }
            }
            _ => error,
        }
    }

    fn finish<T: DeserializeOwned>(
        &self,
        url: &str,
        writes: bool,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ClientError> {
        let mut response = result.map_err(|e| {
            tracing::debug!(%url, error = %e, "no answer from the node");
            self.gone_or(self.unreachable(url, writes, e))
        })?;
        tracing::debug!(%url, status = response.status().as_u16(), "the node answered");
        if !response.status().is_success() {
            return Err(self.gone_or(api_error(response)));
        }
        // Another program on the port a killed node left in api.addr may answer 200 too (from a
        // crash trial: "a response this command does not understand").
        response
            .body_mut()
            .read_json::<T>()
            .map_err(|e| self.gone_or(ClientError::BadResponse { url: url.to_owned(), source: Box::new(e) }))
    }
}

/// Said of a change asked for when no answer came: the node may have made it.
const MAY_BE_DONE: &str = ". What you asked may have been done all the same: once the node answers, look (haggle listings, haggle offers, haggle deals) before asking again";

fn dropped(url: &str, writes: bool) -> String {
    let what = format!(
        "the node at {url} closed the connection before it answered: it stopped, or was stopped, or that address is not a node's local API (a node's peer-to-peer port answers so; the node's log names its API address)"
    );
    if writes {
        format!("{what}{MAY_BE_DONE}")
    } else {
        // Not "haggle status says": this may be `haggle status` (from a trial).
        format!("{what}; the node's log says whether it runs, and where its API listens")
    }
}

/// The query string of an accept or counter that stands by the revision offered on.
fn as_offered_query(as_offered: bool) -> &'static str {
    if as_offered { "?as_offered=true" } else { "" }
}

/// An id as one path segment: ids are hex, so anything else is percent-encoded rather than
/// allowed to change the path.
fn segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn api_error(mut response: ureq::http::Response<ureq::Body>) -> ClientError {
    let status = response.status().as_u16();
    match response.body_mut().read_json::<ErrorBody>() {
        Ok(ErrorBody { error }) => ClientError::Api {
            status,
            code: error.code,
            message: error.message,
            candidates: error.candidates,
        },
        Err(_) => ClientError::Api {
            status,
            code: ErrorCode::Unknown,
            message: format!("the node answered HTTP {status}"),
            candidates: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// A server that takes one request, reads it, and closes the connection unanswered (a node
    /// killed while it works on a request).
    fn dropping_server() -> (String, std::thread::JoinHandle<()>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("an address"));
        listener.set_nonblocking(true).expect("nonblocking");
        let served = std::thread::spawn(move || {
            // Bounded: a client that never connects fails the test instead of hanging it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let mut conn = loop {
                match listener.accept() {
                    Ok((conn, _)) => break conn,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(e) => panic!("no connection within 10 s: {e}"),
                }
            };
            conn.set_nonblocking(false).expect("blocking");
            conn.set_read_timeout(Some(std::time::Duration::from_secs(10))).expect("a timeout");
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
        });
        (base, served)
    }

    /// Defect: a node killed while it took an offer made the command say "cannot reach the
    /// node", though the offer was made and went out.
    #[test]
    fn a_change_the_node_dropped_unanswered_may_have_been_made() {
        let (base, served) = dropping_server();
        let e = ApiClient::new(&base, "token")
            .save_search("bikes", &SearchParams::default())
            .expect_err("dropped");
        served.join().expect("served");
        assert!(matches!(e, ClientError::Dropped { writes: true, .. }), "{e:?}");
        let said = e.to_string();
        assert!(said.contains("closed the connection before it answered"), "{said}");
        assert!(said.contains("What you asked may have been done all the same"), "{said}");

        let (base, served) = dropping_server();
        let e = ApiClient::new(&base, "token").saved().expect_err("dropped");
        served.join().expect("served");
        assert!(matches!(e, ClientError::Dropped { writes: false, .. }), "{e:?}");
        assert!(!e.to_string().contains("may have been done"), "{e}");
    }
}
