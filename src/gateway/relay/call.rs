//! One client request as the relay carries it: parsed, authenticated and admitted by its
//! key's limits, with its body as read and the attempts it has made so far.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::HeaderMap;

use crate::domain::{ClientKind, Platform};
use crate::gateway::body::RequestBody;
use crate::gateway::endpoint::Endpoint;
use crate::gateway::limits::Admission;
use crate::gateway::protocol::Protocol;
use crate::gateway::skim::Notes;
use crate::gateway::translate::Asked;
use crate::store::groups::Group;
use crate::store::keys::ApiKey;
use crate::store::usage;

/// One client request, parsed and authenticated.
pub struct Call {
    pub key: Arc<ApiKey>,
    pub protocol: Protocol,
    pub endpoint: Endpoint,
    /// The client's query string, minus any member key.
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: RequestBody,
    /// Where the body's long strings lie, noted by the routing read; `None` once rewritten.
    pub notes: Option<Notes>,
    pub model: String,
    pub stream: bool,
    /// Conversation key for sticky routing.
    pub session: Option<u64>,
    /// The conversation's own id, for a translated request's prompt cache key.
    pub session_id: Option<String>,
    /// Drop the usage-only chat chunk the gateway asked for on the client's behalf.
    pub strip_usage_chunk: bool,
    pub client: ClientKind,
    pub user_agent: Option<String>,
    pub request_id: String,
    pub started: Instant,
    pub started_at: i64,
    /// Account platforms this request may go to (the protocol's, narrowed by the key).
    pub platforms: Vec<Platform>,
    /// The group, for its budgets.
    pub group: Option<Arc<Group>>,
    /// The key's concurrency slot, held until the request ends.
    pub admission: Admission,
    /// The calendar day of `started_at` in the configured zone, for the rollup.
    pub day: String,
    /// Time spent waiting on upstreams, left out of the gateway's own time in `Server-Timing`.
    pub upstream_wait: Duration,
    /// The attempts that failed so far, for the request log.
    pub tried: Vec<usage::Tried>,
}

impl Call {
    /// What a translation needs to know of the request.
    pub(super) fn asked(&self) -> Asked<'_> {
        Asked {
            endpoint: &self.endpoint,
            stream: self.stream,
            model: &self.model,
            request_id: &self.request_id,
            query: self.query.as_deref(),
            session: self.session_id.as_deref(),
            started_at_ms: self.started_at,
        }
    }
}
