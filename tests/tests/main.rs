//! Multi-node tests: real nodes on 127.0.0.1, temporary data dirs, bounded waits.

mod api;
mod attacks;
mod auctions;
mod clock;
mod defects;
mod dialling;
mod feedback;
mod files;
mod gossip;
mod mailbox;
mod metrics;
mod negotiation;
mod relay;
mod restore;
mod rogue;
mod sync;
