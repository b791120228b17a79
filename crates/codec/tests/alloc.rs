//! The decoder never allocates more than its input justifies: a declared length costs nothing until the
//! bytes are there, an oversized one is refused before any buffering, and what a frame decodes to is linear
//! in the frame's size. Measured with a counting global allocator, so this file holds a single test (the
//! counters are process-wide).
#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::alloc::System;
use std::mem::size_of;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};
use tern_codec::{
    decode, encode, BytesMut, Connect, DecodeError, Limits, Packet, ProtocolVersion, Publish, QoS,
};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Bytes allocated by one `decode` call on `buf`, and its result.
fn measured(buf: &mut BytesMut, limits: &Limits) -> (usize, Result<Option<Packet>, DecodeError>) {
    let region = Region::new(GLOBAL);
    let result = decode(buf, limits);
    let change = region.change();
    (change.bytes_allocated + change.bytes_reallocated.max(0) as usize, result)
}

/// What a frame of `len` bytes may cost: a CONNECT's box, the frame's share handle, and per item decoded
/// into a list (a subscription, a user property: at most 64 bytes each from at least 3 bytes of input, times
/// two for a growing `Vec`).
fn justified(len: usize) -> usize {
    2 * size_of::<Connect>() + 256 + 48 * len
}

#[test]
fn decoding_allocates_no_more_than_the_input_justifies() {
    let v5 = Limits::new(ProtocolVersion::V5);

    // A PUBLISH declaring 200 MB (0x30, remaining length 0x80 0x80 0x80 0x64) with 10 bytes of it here:
    // not a byte is allocated while waiting, and nothing is consumed.
    let mut buf = BytesMut::from(&[0x30, 0x80, 0x80, 0x80, 0x64, 0, 1, b't', 0, 0][..]);
    let (bytes, result) = measured(&mut buf, &v5);
    assert_eq!(result, Ok(None));
    assert_eq!(bytes, 0);
    assert_eq!(buf.len(), 10);

    // The same with a 1 MiB maximum packet size: refused from the fixed header, still without allocating.
    let small = Limits { max_packet_size: 1 << 20, ..v5 };
    let (bytes, result) = measured(&mut buf, &small);
    assert_eq!(result, Err(DecodeError::PacketTooLarge { size: 209_715_205, max: 1 << 20 }));
    assert_eq!(bytes, 0);

    // A whole PUBLISH with a 64 KiB payload: topic and payload are views of the frame, not copies.
    let big = Publish {
        qos: QoS::AtLeastOnce,
        packet_id: std::num::NonZeroU16::new(1),
        ..Publish::new("t", vec![7u8; 65_536])
    };
    let mut frame = BytesMut::new();
    encode(&Packet::Publish(big.clone()), ProtocolVersion::V5, &mut frame).unwrap();
    let (bytes, result) = measured(&mut frame, &v5);
    assert_eq!(result, Ok(Some(Packet::Publish(big))));
    assert!(bytes < 256, "{bytes} bytes allocated to decode a 64 KiB PUBLISH");

    // Arbitrary bytes, in every version: never more than the bound above for the bytes given.
    let mut runner = TestRunner::new(Config { cases: 2000, ..Config::default() });
    let versions =
        prop_oneof![Just(ProtocolVersion::V31), Just(ProtocolVersion::V311), Just(ProtocolVersion::V5)];
    // Frames that parse far: a plausible first byte and remaining length, then arbitrary content.
    let input = (versions, 0u8..16, vec(any::<u8>(), 0..400)).prop_map(|(v, kind, body)| {
        let mut frame = vec![(kind << 4) | if matches!(kind, 6 | 8 | 10) { 2 } else { 0 }];
        let mut len = body.len();
        loop {
            let byte = (len % 128) as u8;
            len /= 128;
            frame.push(if len > 0 { byte | 0x80 } else { byte });
            if len == 0 {
                break;
            }
        }
        frame.extend_from_slice(&body);
        (v, frame)
    });
    let worst = std::cell::Cell::new(0.0f64);
    runner
        .run(&input, |(v, frame)| {
            let limits = Limits::new(v);
            let mut buf = BytesMut::from(&frame[..]);
            let (bytes, _) = measured(&mut buf, &limits);
            prop_assert!(bytes <= justified(frame.len()), "{} bytes for {:02X?}", bytes, frame);
            worst.set(worst.get().max(bytes as f64 / frame.len() as f64));
            Ok(())
        })
        .unwrap();
    println!("worst allocation: {:.1} bytes per input byte", worst.get());
}
