//! Proof of work: a cost per object that a home machine pays in about a second and a flood pays
//! at scale.
//!
//! Every envelope ends with an 8-byte `stamp`, inside the signed bytes. The object's **work** is
//! the number of leading zero bits of
//!
//! ```text
//! blake3("haggle/1 work" ‖ blake3(prefix) ‖ stamp)
//! ```
//!
//! where `prefix` is the envelope's encoding up to the stamp (the signed bytes without their
//! last 8). The author searches for a stamp once, before signing; a receiver checks it with two
//! hashes, before the signature. The work an object needs grows with its size (one more bit per
//! doubling above 1 KiB), so bytes cost the same whatever the objects' sizes. The base is the
//! network's; see [`required_bits`].

use crate::object::ObjectKind;

/// Length of the stamp at the end of every envelope.
pub const STAMP_LEN: usize = 8;

/// The work a haggle network asks for a public object of up to 1 KiB, by default: about eight
/// million hashes, half a second on a two-core home machine (8.4 million hashes a second per
/// core measured on the reference machine), and a bound of about one such object a second per
/// core for anyone flooding the network.
pub const DEFAULT_BASE_BITS: u32 = 23;

/// The most a network may ask for: 2^32 hashes is already minutes for a listing on a home
/// machine; more would never finish.
pub const MAX_BASE_BITS: u32 = 32;

/// Less work for an offer than for a public object: it goes to one node, which holds it only as
/// long as its thread; direct delivery is budgeted per peer as well.
const OFFER_DISCOUNT: u32 = 6;

const DOMAIN: &[u8] = b"haggle/1 work";

/// The work `kind` of `size` bytes needs on a network whose base is `base` bits: public objects
/// (listings, mailboxes, receipts) `base`, plus one bit per doubling of size above 1 KiB;
/// offers and notes six bits less; replies in a thread and deal steps none (a thread holds at most 32
/// messages and a deal at most 64 steps, and only the two parties may write in them).
pub fn required_bits(kind: ObjectKind, size: usize, base: u32) -> u32 {
    if base == 0 {
        return 0;
    }
    let size_bits = size.div_ceil(1024).max(1).next_power_of_two().trailing_zeros();
    match kind {
        ObjectKind::Listing
        | ObjectKind::Mailbox
        | ObjectKind::Receipt
        | ObjectKind::Feedback
        | ObjectKind::Bid
        | ObjectKind::Pledge => base + size_bits,
        // A note may open a conversation with a stranger, as an offer opens a thread.
        ObjectKind::Offer | ObjectKind::Note => base.saturating_sub(OFFER_DISCOUNT) + size_bits,
        ObjectKind::Counter
        | ObjectKind::Accept
        | ObjectKind::Confirm
        | ObjectKind::Decline
        | ObjectKind::Withdraw
        | ObjectKind::Step => 0,
    }
}

/// The work of an envelope's encoding `signed` (which ends with its stamp): leading zero bits of
/// the work hash. `None` if it is too short to hold a stamp.
pub fn work_of(signed: &[u8]) -> Option<u32> {
    let split = signed.len().checked_sub(STAMP_LEN)?;
    let (prefix, stamp) = signed.split_at(split);
    let prefix_hash = blake3::hash(prefix);
    Some(leading_zeros(&stamped(prefix_hash.as_bytes(), stamp)))
}

/// Finds a stamp giving `prefix` (an envelope's encoding up to its stamp) at least `bits` of
/// work, on every core: the smallest such stamp (as a little-endian counter), so the result
/// does not depend on the number of cores or their timing. Returns the zero stamp when no work
/// is asked for.
pub fn mine(prefix: &[u8], bits: u32) -> [u8; STAMP_LEN] {
    mine_until(prefix, bits, &|| false).unwrap_or([0; STAMP_LEN])
}

/// How many tries each core makes between two questions to `stop` in [`mine_until`]: about 8 ms.
const TRIES_BETWEEN_STOPS: u64 = 1 << 16;

/// [`mine`], asking `stop` every [`TRIES_BETWEEN_STOPS`] tries of each core: once it says true,
/// the search ends with `None` (a node shutting down does not finish minutes of work on a slow
/// machine first: from a trial, a node told to stop went on mining for nine minutes).
pub fn mine_until(prefix: &[u8], bits: u32, stop: &(dyn Fn() -> bool + Sync)) -> Option<[u8; STAMP_LEN]> {
    if bits == 0 {
        return Some([0; STAMP_LEN]);
    }
    let prefix_hash = *blake3::hash(prefix).as_bytes();
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get) as u64;
    let found = std::sync::atomic::AtomicU64::new(u64::MAX);
    let stopped = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for start in 0..threads {
            let (found, stopped, prefix_hash) = (&found, &stopped, &prefix_hash);
            scope.spawn(move || {
                // Each thread tries its own residue class, in order, and stops once past the
                // smallest stamp found so far: every smaller candidate has then been tried.
                let mut nonce = start;
                let mut tries = 0u64;
                loop {
                    if nonce > found.load(std::sync::atomic::Ordering::Relaxed) {
                        return;
                    }
                    tries += 1;
                    if tries.is_multiple_of(TRIES_BETWEEN_STOPS)
                        && (stopped.load(std::sync::atomic::Ordering::Relaxed) || stop())
                    {
                        stopped.store(true, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                    if leading_zeros(&stamped(prefix_hash, &nonce.to_le_bytes())) >= bits {
                        found.fetch_min(nonce, std::sync::atomic::Ordering::Relaxed);
                        return;
                    }
                    nonce += threads;
                }
            });
        }
    });
    if stopped.into_inner() {
        return None;
    }
    Some(found.into_inner().to_le_bytes())
}

fn stamped(prefix_hash: &[u8; 32], stamp: &[u8]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(DOMAIN);
    hasher.update(prefix_hash);
    hasher.update(stamp);
    *hasher.finalize().as_bytes()
}

fn leading_zeros(hash: &[u8; 32]) -> u32 {
    let mut bits = 0;
    for byte in hash {
        if *byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mining_told_to_stop_ends_without_a_stamp() {
        // 60 bits would take years; asked to stop, it ends at the first question.
        let asked = std::sync::atomic::AtomicUsize::new(0);
        let stop = || asked.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 1;
        assert_eq!(mine_until(b"an envelope", 60, &stop), None);
        assert_eq!(mine_until(b"an envelope", 0, &|| true), Some([0; STAMP_LEN]), "no work asked");
        let stamp = mine_until(b"an envelope", 8, &|| false).expect("found");
        assert_eq!(stamp, mine(b"an envelope", 8));
    }

    #[test]
    fn a_mined_stamp_has_the_work_and_another_prefix_does_not() {
        let prefix = b"an envelope up to its stamp".to_vec();
        let stamp = mine(&prefix, 12);
        let mut signed = prefix.clone();
        signed.extend_from_slice(&stamp);
        assert!(work_of(&signed).expect("long enough") >= 12);
        signed[0] ^= 1;
        // A changed object keeps its stamp but loses its work (with odds of 1 in 4,096).
        assert!(work_of(&signed).expect("long enough") < 12);
        assert_eq!(mine(&prefix, 0), [0; STAMP_LEN]);
        assert_eq!(work_of(b"short"), None);
    }

    #[test]
    fn work_grows_with_size_and_kind() {
        let base = DEFAULT_BASE_BITS;
        assert_eq!(required_bits(ObjectKind::Listing, 300, base), base);
        assert_eq!(required_bits(ObjectKind::Listing, 1024, base), base);
        assert_eq!(required_bits(ObjectKind::Listing, 1025, base), base + 1);
        assert_eq!(required_bits(ObjectKind::Listing, 64 * 1024, base), base + 6);
        assert_eq!(required_bits(ObjectKind::Offer, 400, base), base - 6);
        assert_eq!(required_bits(ObjectKind::Accept, 400, base), 0);
        assert_eq!(required_bits(ObjectKind::Listing, 64 * 1024, 0), 0, "a network without work");
    }

    #[test]
    fn leading_zero_bits_are_counted_across_bytes() {
        let mut hash = [0xFF; 32];
        assert_eq!(leading_zeros(&hash), 0);
        hash[0] = 0;
        hash[1] = 0x1F;
        assert_eq!(leading_zeros(&hash), 11);
        assert_eq!(leading_zeros(&[0; 32]), 256);
    }
}
