//! Untrusted bytes into the decoders: must never panic, and anything that verifies must
//! re-encode to the same bytes and id.
#![no_main]

use haggle_protocol::{Deal, Object, Timestamp};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let now = Timestamp::from_millis(1_767_225_600_000);
    if let Ok(object) = Object::decode_verify(data, now) {
        assert_eq!(object.bytes(), data);
        let again = Object::decode_verify(object.bytes(), now).expect("verified bytes verify again");
        assert_eq!(again.id(), object.id());
    }
    let _ = Object::decode_unverified(data);
    if let Ok(deal) = Deal::decode_verify(data) {
        assert_eq!(Deal::decode_verify(&deal.encode()).expect("re-encoded deal verifies").id(), deal.id());
    }
});
