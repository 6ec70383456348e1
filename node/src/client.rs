//! A blocking client of the local API, for the `haggle` command and tests. It finds the node
//! through `api.addr` and `api.cookie` in the data dir.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::node::{ADDR_FILE, COOKIE_FILE};

/// Why a call to the node failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("no node is running for data dir {data_dir}: start one with `haggle node`")]
    NoNode { data_dir: PathBuf },
    #[error("cannot read the API token {path}: {source}")]
    Cookie { path: PathBuf, source: std::io::Error },
    #[error("{message}")]
    Api { status: u16, code: String, message: String, candidates: Vec<String> },
    #[error("cannot reach the node at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the node sent a response this command does not understand: {0}")]
    BadResponse(String),
}

impl ClientError {
    /// The API's error code, if the node answered with one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { code, .. } => Some(code),
            _ => None,
        }
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

impl ApiClient {
    /// The node whose data dir is `data_dir`.
    pub fn for_data_dir(data_dir: &Path) -> Result<Self, ClientError> {
        let no_node = || ClientError::NoNode { data_dir: data_dir.to_owned() };
        let addr = std::fs::read_to_string(data_dir.join(ADDR_FILE)).map_err(|_| no_node())?;
        let cookie_path = data_dir.join(COOKIE_FILE);
        let token = std::fs::read_to_string(&cookie_path)
            .map_err(|source| ClientError::Cookie { path: cookie_path, source })?;
        let mut client = Self::new(&format!("http://{}", addr.trim()), token.trim());
        client.data_dir = Some(data_dir.to_owned());
        Ok(client)
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

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        let request = self.agent.get(self.url(path)).header("Authorization", self.bearer());
        self.finish(path, request.call())
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let request = self.agent.post(self.url(path)).header("Authorization", self.bearer());
        self.finish(path, request.send_json(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let request = self.agent.patch(self.url(path)).header("Authorization", self.bearer());
        self.finish(path, request.send_json(body))
    }

    /// Follows the event stream, calling `each` with every event until it returns false or the
    /// stream ends.
    pub fn events(&self, mut each: impl FnMut(Value) -> bool) -> Result<(), ClientError> {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let response = agent
            .get(self.url("/v1/events"))
            .header("Authorization", self.bearer())
            .call()
            .map_err(|e| self.unreachable("/v1/events", e))?;
        if response.status() != 200 {
            return Err(self.api_error(response));
        }
        let reader = BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            let line = line.map_err(|e| ClientError::Unreachable {
                url: self.url("/v1/events"),
                reason: e.to_string(),
            })?;
            if let Some(data) = line.strip_prefix("data:")
                && let Ok(value) = serde_json::from_str::<Value>(data.trim())
                && !each(value)
            {
                break;
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

    fn unreachable(&self, path: &str, e: ureq::Error) -> ClientError {
        match (&self.data_dir, &e) {
            (Some(data_dir), ureq::Error::Io(io)) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
                ClientError::NoNode { data_dir: data_dir.clone() }
            }
            _ => ClientError::Unreachable { url: self.url(path), reason: e.to_string() },
        }
    }

    fn finish(
        &self,
        path: &str,
        result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ClientError> {
        let response = result.map_err(|e| self.unreachable(path, e))?;
        if response.status().is_success() {
            let mut response = response;
            return response
                .body_mut()
                .read_json::<Value>()
                .map_err(|e| ClientError::BadResponse(e.to_string()));
        }
        Err(self.api_error(response))
    }

    fn api_error(&self, mut response: ureq::http::Response<ureq::Body>) -> ClientError {
        let status = response.status().as_u16();
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        let error = &body["error"];
        ClientError::Api {
            status,
            code: error["code"].as_str().unwrap_or("unknown").to_owned(),
            message: error["message"]
                .as_str()
                .map_or_else(|| format!("the node answered HTTP {status}"), str::to_owned),
            candidates: error["candidates"]
                .as_array()
                .map(|c| c.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
        }
    }
}
