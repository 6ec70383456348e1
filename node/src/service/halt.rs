//! Stopping the node when its store can take no more writes. After its first I/O error (a full
//! disk, say) sled refuses every later write, even once space is back; a node that kept running
//! would answer every publish, offer and step with an error, drop what peers send, and look
//! healthy in `haggle status`. It stops instead, saying why, so the owner (or a supervisor that
//! restarts it on failure) starts it again once the cause is fixed: opening the store again
//! finishes or undoes what the failure left half made.

use std::sync::{Arc, OnceLock};

use haggle_storage::StoreError;
use tokio_util::sync::CancellationToken;

/// Stops the node on a store failure, and remembers the first one.
#[derive(Debug, Clone, Default)]
pub(crate) struct Halt {
    /// The node's shutdown token, once the node runs (a service alone, in tests, stops nothing).
    token: Arc<OnceLock<CancellationToken>>,
    /// Why the node stopped, if it did.
    reason: Arc<OnceLock<String>>,
    /// When a proof of work first found the node stopping (see [`Halt::gives_up_work`]).
    stop_seen: Arc<OnceLock<std::time::Instant>>,
}

/// How long a proof of work under way goes on once the node is stopping: the stopping node seals
/// its queued messages for its peers (for up to 3 s), each sealed copy with the network's work,
/// which must not be given up (a test's offer, queued just before its node stopped, then never
/// travelled); a listing a command asked for is given up a little later.
const WORK_AFTER_STOP: std::time::Duration = std::time::Duration::from_secs(5);

impl Halt {
    /// Cancels `token` on the first store failure.
    pub(crate) fn stops(&self, token: CancellationToken) {
        let _ = self.token.set(token);
    }

    /// Stops the node if `e` means the store takes no more writes.
    pub(crate) fn check(&self, e: &StoreError) {
        if !e.needs_restart() {
            return;
        }
        let reason = if e.is_damage() {
            format!("the node stopped because its store read what does not check out: {e}. {}", e.fix())
        } else {
            format!(
                "the node stopped because its store can take no more writes: {e}. Fix the cause ({}) and start \
                 the node again; opening the store finishes or undoes what the failure left half made. What a \
                 command reported as failed may still be there after the restart: check with haggle listings, \
                 offers or deals",
                e.fix()
            )
        };
        if self.reason.set(reason).is_ok() {
            tracing::error!(error = %e, "the store can take no more writes: stopping the node");
        }
        if let Some(token) = self.token.get() {
            token.cancel();
        }
    }

    /// Whether a proof of work under way is given up: the node has been stopping (its shutdown
    /// token cancelled, for any reason) for [`WORK_AFTER_STOP`].
    pub(crate) fn gives_up_work(&self) -> bool {
        if !self.token.get().is_some_and(CancellationToken::is_cancelled) {
            return false;
        }
        self.stop_seen.get_or_init(std::time::Instant::now).elapsed() >= WORK_AFTER_STOP
    }

    /// Why the node stopped, if a store failure stopped it.
    pub(crate) fn reason(&self) -> Option<String> {
        self.reason.get().cloned()
    }
}
