//! Base58 with the Bitcoin alphabet, the text form of a PeerId.
//!
//! libp2p's encoder works a byte at a time over every output digit, which made writing the
//! sellers of a page of search results a twentieth of the node's work for the page. This one
//! divides the number by 58^5 a 32-bit limb at a time, five digits per pass. The tests compare
//! it with libp2p's.

/// The digits, in order (no 0, O, I or l).
pub(crate) const ALPHABET: &str = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
/// 58^5, the largest power of 58 under 2^32: one pass of the long division yields five digits.
const FIVE_DIGITS: u64 = 656_356_768;

/// `bytes` in base58: a `1` for each leading zero byte, then the rest as one big-endian number.
pub(crate) fn encode(bytes: &[u8]) -> String {
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    let number = &bytes[zeros..];
    // The number as 32-bit limbs, most significant first.
    let head = number.len() % 4;
    let mut limbs: Vec<u32> = Vec::with_capacity(number.len() / 4 + 1);
    if head > 0 {
        limbs.push(number[..head].iter().fold(0, |n, b| (n << 8) | u32::from(*b)));
    }
    limbs.extend(number[head..].chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]])));
    // Digits, least significant first.
    let mut digits: Vec<u8> = Vec::with_capacity(number.len() * 138 / 100 + 5);
    let mut first = 0;
    while first < limbs.len() {
        let mut remainder = 0u64;
        for limb in &mut limbs[first..] {
            // remainder < 58^5 < 2^30, so this fits, and so does the quotient in 32 bits.
            let n = (remainder << 32) | u64::from(*limb);
            *limb = (n / FIVE_DIGITS) as u32;
            remainder = n % FIVE_DIGITS;
        }
        while limbs.get(first) == Some(&0) {
            first += 1;
        }
        for _ in 0..5 {
            digits.push((remainder % 58) as u8);
            remainder /= 58;
        }
    }
    while digits.last() == Some(&0) {
        digits.pop();
    }
    let mut out = String::with_capacity(zeros + digits.len());
    out.extend(std::iter::repeat_n('1', zeros));
    out.extend(digits.iter().rev().map(|d| char::from(ALPHABET.as_bytes()[usize::from(*d)])));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_strings() {
        assert_eq!(encode(b""), "");
        assert_eq!(encode(&[0]), "1");
        assert_eq!(encode(&[0, 0, 1]), "112");
        assert_eq!(encode(&[57]), "z");
        assert_eq!(encode(&[58]), "21");
        assert_eq!(encode(&[0xff; 4]), "7YXq9G");
        assert_eq!(encode(b"Hello World!"), "2NEpo7TZRRrLZSi2U");
        assert_eq!(
            encode(b"The quick brown fox jumps over the lazy dog."),
            "USm3fpXnKG5EUBx2ndxBDMPVciP5hGey2Jh4NDv6gmeo1LkMeiKrLJUUBk6Z"
        );
    }

    /// Every length up to 40 bytes, with and without leading zeros, as libp2p writes them
    /// (through a PeerId's identity multihash, whose text is the base58 of its bytes).
    #[test]
    fn matches_libp2p() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut byte = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        };
        for len in 0..=40usize {
            for zeros in [0, 1, 3] {
                let digest: Vec<u8> = (0..len).map(|i| if i < zeros.min(len) { 0 } else { byte() }).collect();
                let mut bytes = vec![0x00, len as u8];
                bytes.extend_from_slice(&digest);
                let peer = libp2p_identity::PeerId::from_bytes(&bytes).expect("an identity PeerId");
                assert_eq!(encode(&bytes), peer.to_base58(), "{bytes:?}");
            }
        }
    }
}
