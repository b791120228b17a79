//! Decodes arbitrary bytes as a stream of packets for the protocol version chosen by the first byte. The
//! decoder must never panic, must consume exactly the frames it returns, and must leave the buffer untouched
//! when it asks for more bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_codec::{decode, frame_len, BytesMut, Limits, ProtocolVersion};

fn version(b: u8) -> ProtocolVersion {
    match b % 3 {
        0 => ProtocolVersion::V31,
        1 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let limits = Limits { version: version(first), max_packet_size: 1 + u32::from(first) * 64 };
    let mut buf = BytesMut::from(rest);
    loop {
        let before = buf.clone();
        match decode(&mut buf, &limits) {
            Ok(Some(_)) => {
                let consumed = before.len() - buf.len();
                assert!(consumed >= 2, "a frame is at least two bytes");
                assert_eq!(frame_len(&before, limits.max_packet_size), Ok(Some(consumed)));
                assert_eq!(&before[consumed..], &buf[..]);
            }
            Ok(None) => {
                assert_eq!(before, buf, "nothing is consumed while waiting for more bytes");
                break;
            }
            Err(_) => break,
        }
    }
});
