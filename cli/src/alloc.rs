//! The allocator: mimalloc rather than the system's, told to give freed memory back soon.
//!
//! mimalloc rather than glibc's allocator: a node allocates and frees small buffers for every
//! object it receives, decodes, stores and indexes (ingest at 100k listings: 19,600-20,300/s
//! with glibc's allocator, 23,300-23,800/s with mimalloc built without transparent huge pages,
//! which also keeps a node with 100k listings at 91-92 MiB resident instead of 144-153; see
//! docs/PERFORMANCE.md).
//!
//! mimalloc 3 keeps freed memory a second before giving it back to the system. A node that
//! catches up frees memory as fast as it takes it, and a second's worth was held at once: a new
//! node catching up with 10,000 listings peaked at 121-131 MiB with the default and at 90 MiB
//! with 10 ms, and with 120,000 at 304 MiB against 244, at the same ingest speed
//! (`haggle-sim --scenario load`; docs/PERFORMANCE.md, "Memory under a live load").
//!
//! Built with the `system-allocator` feature, the binary keeps the system's allocator, so that a
//! heap profiler which replaces `malloc` (heaptrack) sees every allocation; docs/PERFORMANCE.md,
//! "Where the heap goes", says how to take a profile.

#[cfg(not(feature = "system-allocator"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`: its place in the C enum of options (the Rust bindings
/// name no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
/// mimalloc 3's default purge delay, in milliseconds: read back first, so a release whose
/// options are numbered otherwise is left alone rather than misconfigured.
const DEFAULT_PURGE_DELAY_MS: std::ffi::c_long = 1_000;
/// How long freed memory is kept before it is given back, in milliseconds (mimalloc 2's
/// default).
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// Whether the environment sets the purge delay: mimalloc reads `MIMALLOC_PURGE_DELAY`, or its
/// older name `MIMALLOC_RESET_DELAY`, in any case of letters.
fn delay_set_by_operator() -> bool {
    std::env::vars_os().any(|(name, _)| {
        let name = name.to_string_lossy();
        name.eq_ignore_ascii_case("MIMALLOC_PURGE_DELAY") || name.eq_ignore_ascii_case("MIMALLOC_RESET_DELAY")
    })
}

/// Shortens how long freed memory is kept (see the module's doc), unless the environment sets
/// it (see [`delay_set_by_operator`]): mimalloc read that itself, and an operator who set it is
/// obeyed. Called first thing in `main`, before any other thread exists. Returns whether the
/// delay is now ours.
#[allow(unsafe_code)]
pub fn return_freed_memory_soon() -> bool {
    if cfg!(feature = "system-allocator") || delay_set_by_operator() {
        return false;
    }
    // SAFETY: `mi_option_get` and `mi_option_set` read and write an entry of mimalloc's table of
    // options, indexed by an enum whose value 15 is `mi_option_purge_delay` in the bundled
    // mimalloc 3; an index in range is all they require, and 15 is below `_mi_option_last`.
    unsafe {
        match libmimalloc_sys::mi_option_get(PURGE_DELAY) {
            DEFAULT_PURGE_DELAY_MS => {
                libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS);
                true
            }
            PURGE_DELAY_MS => true,
            _ => false,
        }
    }
}

#[cfg(all(test, not(feature = "system-allocator")))]
mod tests {
    use super::*;

    /// The option numbered 15 is the purge delay: it holds mimalloc 3's default (or the value
    /// set), and setting it reads back. A mimalloc whose options are numbered otherwise fails
    /// here rather than in a user's node.
    #[test]
    fn the_purge_delay_is_set() {
        if delay_set_by_operator() {
            // The environment's delay is obeyed, and this test has nothing to check.
            eprintln!("the environment sets mimalloc's purge delay: nothing to check");
            return;
        }
        assert!(return_freed_memory_soon(), "option 15 held neither 1000 nor 10 ms");
        #[allow(unsafe_code)]
        // SAFETY: as in `return_freed_memory_soon`.
        let now = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
        assert_eq!(now, PURGE_DELAY_MS);
    }
}
