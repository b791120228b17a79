//! Codec throughput: decoding and encoding a typical PUBLISH (16 B and 1 KiB payload, MQTT 3.1.1 and 5.0 with
//! two properties) and a CONNECT, each reported in packets/s and bytes/s.
//!
//! Decoding runs as a connection's reader does: many frames back to back in one read buffer, decoded in
//! place. Encoding appends to a reused write buffer.
//!
//! `cargo bench -p tern-codec --bench codec -- --measurement-time 2 --warm-up-time 1`

use std::hint::black_box;
use std::num::NonZeroU16;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tern_codec::{
    decode, encode, ByteString, Bytes, BytesMut, Connect, LastWill, Limits, Packet, Properties,
    ProtocolVersion, Publish, QoS,
};

/// Frames per decode iteration: one read buffer's worth.
const BATCH: usize = 256;

fn publish(payload: usize, v: ProtocolVersion) -> Packet {
    let properties = if v.is_v5() {
        Properties {
            message_expiry_interval: Some(3600),
            user_properties: vec![(
                ByteString::from_static("trace"),
                ByteString::from_static("4bf92f3577b34da6"),
            )],
            ..Properties::default()
        }
    } else {
        Properties::default()
    };
    Packet::Publish(Publish {
        qos: QoS::AtLeastOnce,
        packet_id: NonZeroU16::new(42),
        properties,
        ..Publish::new("sensors/building-7/floor-3/room-12/temperature", vec![0x5A; payload])
    })
}

fn connect(v: ProtocolVersion) -> Packet {
    let properties = if v.is_v5() {
        Properties {
            session_expiry_interval: Some(3600),
            receive_maximum: Some(100),
            ..Properties::default()
        }
    } else {
        Properties::default()
    };
    Packet::Connect(Box::new(Connect {
        protocol: v,
        clean_start: false,
        keep_alive: 60,
        client_id: ByteString::from_static("sensor-7-3-12-4f1c"),
        will: Some(LastWill {
            topic: ByteString::from_static("sensors/building-7/floor-3/room-12/status"),
            payload: Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        }),
        username: Some(ByteString::from_static("sensor-7")),
        password: Some(Bytes::from_static(b"correct horse battery staple")),
        properties,
    }))
}

fn cases() -> Vec<(&'static str, ProtocolVersion, Packet)> {
    use ProtocolVersion::{V311, V5};
    vec![
        ("publish_16B_v311", V311, publish(16, V311)),
        ("publish_1KiB_v311", V311, publish(1024, V311)),
        ("publish_16B_v5", V5, publish(16, V5)),
        ("publish_1KiB_v5", V5, publish(1024, V5)),
        ("connect_v311", V311, connect(V311)),
        ("connect_v5", V5, connect(V5)),
    ]
}

fn frame(v: ProtocolVersion, packet: &Packet) -> BytesMut {
    let mut buf = BytesMut::new();
    encode(packet, v, &mut buf).expect("benchmark packets are valid");
    buf
}

fn bench_decode(c: &mut Criterion) {
    for (name, v, packet) in cases() {
        let one = frame(v, &packet);
        let mut many = BytesMut::with_capacity(one.len() * BATCH);
        for _ in 0..BATCH {
            many.extend_from_slice(&one);
        }
        let limits = Limits::new(v);
        let mut group = c.benchmark_group(format!("decode/{name}"));
        for (unit, throughput) in
            [("packets", Throughput::Elements(BATCH as u64)), ("bytes", Throughput::Bytes(many.len() as u64))]
        {
            group.throughput(throughput);
            group.bench_function(unit, |b| {
                b.iter_batched(
                    || many.clone(),
                    |mut buf| {
                        while let Some(p) = decode(&mut buf, &limits).expect("valid frames") {
                            black_box(p);
                        }
                        buf
                    },
                    BatchSize::LargeInput,
                )
            });
        }
        group.finish();
    }
}

fn bench_encode(c: &mut Criterion) {
    for (name, v, packet) in cases() {
        let len = packet.encoded_len(v);
        let mut buf = BytesMut::with_capacity(len * BATCH);
        let mut group = c.benchmark_group(format!("encode/{name}"));
        for (unit, throughput) in [
            ("packets", Throughput::Elements(BATCH as u64)),
            ("bytes", Throughput::Bytes((len * BATCH) as u64)),
        ] {
            group.throughput(throughput);
            group.bench_function(unit, |b| {
                b.iter(|| {
                    buf.clear();
                    for _ in 0..BATCH {
                        encode(black_box(&packet), v, &mut buf).expect("valid packet");
                    }
                    black_box(buf.len())
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
