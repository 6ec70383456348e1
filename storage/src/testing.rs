//! Helpers the store's tests share: a store in a temporary directory, and an object put in it
//! as from the network.

use haggle_protocol::Object;

use crate::{Durability, Outcome, Store};

/// A store in a new temporary directory, which lives as long as the directory returned.
pub(crate) fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path()).expect("open");
    (dir, store)
}

/// `object` ingested as a peer's, flushed lazily.
pub(crate) fn put(store: &Store, object: &Object) -> Outcome {
    store.ingest(object.bytes(), Durability::Lazy).expect("ingest")
}
