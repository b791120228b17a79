//! The framing entry point alone: the fixed header of arbitrary bytes against an arbitrary maximum packet
//! size. A returned length always fits the maximum and covers at least the fixed header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_codec::frame_len;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (max, frame) = data.split_at(4);
    let max = u32::from_be_bytes([max[0], max[1], max[2], max[3]]);
    if let Ok(Some(len)) = frame_len(frame, max) {
        assert!(len >= 2 && len <= 5 + 268_435_455);
        assert!(len as u64 <= u64::from(max));
    }
});
