//! decode → encode → decode: whatever the decoder accepts, the encoder writes back as a frame that decodes
//! to the same packet, of exactly the length the packet reports.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_codec::{decode, encode, BytesMut, Limits, Packet, ProtocolVersion};

fn version(b: u8) -> ProtocolVersion {
    match b % 3 {
        0 => ProtocolVersion::V31,
        1 => ProtocolVersion::V311,
        _ => ProtocolVersion::V5,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let limits = Limits::new(version(first));
    let mut buf = BytesMut::from(rest);
    while let Ok(Some(packet)) = decode(&mut buf, &limits) {
        // A CONNECT carries its own version; the rest speak the connection's.
        let v = match &packet {
            Packet::Connect(c) => c.protocol,
            _ => limits.version,
        };
        let mut out = BytesMut::new();
        encode(&packet, v, &mut out).expect("a decoded packet encodes");
        assert_eq!(out.len(), packet.encoded_len(v));
        let again = decode(&mut out, &limits).expect("an encoded packet decodes");
        assert_eq!(again.as_ref(), Some(&packet));
        assert!(out.is_empty());
    }
});
