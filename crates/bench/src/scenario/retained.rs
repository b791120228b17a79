//! Retained messages: store N (one per topic), then subscribe to `#` below them and time until every one
//! has arrived, checking each came once and with the RETAIN flag [MQTT-3.3.1-8]. The messages are cleared
//! afterwards (an empty retained payload per topic [MQTT-3.3.1-10]) unless `--keep`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tern_codec::{
    ByteString, Bytes, Packet, Publish, QoS, Subscribe, SubscriptionOptions, SubscriptionRequest,
};
use tokio::sync::watch;

use super::messages::connect_options;
use super::RetainedArgs;
use crate::client::{within, Conn, READ_CHUNK};
use crate::metrics::{get, Metrics};
use crate::process::{CpuMark, Proc};
use crate::publisher::{self, Load, PublisherSpec};
use crate::seqset::SeqSet;
use crate::subscriber::{self, SubscriberResult};
use crate::summary::{RetainedStats, Summary};
use crate::transport::Target;

pub async fn run(args: &RetainedArgs, run: &str) -> anyhow::Result<Summary> {
    let common = &args.common;
    let n = u64::from(args.count);
    let target = Target::new(common).await?;
    let options = connect_options(common);
    let metrics = Arc::new(Metrics::default());
    let prefix = format!("{}/{run}/r", common.topic_prefix);
    let topics: Arc<[ByteString]> = (0..n).map(|i| ByteString::from(format!("{prefix}/{i}"))).collect();

    // Store: one publisher, every topic once, then a round trip so the broker has handled them all.
    let mut publisher_conn = within(
        common.setup_timeout,
        "connecting",
        Conn::open(&target, None, &format!("tb-{run}-p0"), &options, READ_CHUNK),
    )
    .await?;
    let load = Load {
        qos: common.qos,
        payload_size: common.payload_size(),
        rate: common.rate,
        duration: common.setup_timeout + common.duration,
        max_messages: n,
        inflight: common.inflight,
        drain_timeout: common.drain_timeout,
    };
    let spec = PublisherSpec { id: 0, topics: topics.clone(), offset: 0, retain: true };
    let stored_at = Instant::now();
    let (_start_tx, start_rx) = watch::channel(Some(stored_at));
    let stored = publisher::run(&mut publisher_conn, spec, load, start_rx, metrics.clone()).await;
    within(common.setup_timeout, "storing", publisher_conn.round_trip()).await?;
    let store_s = stored_at.elapsed().as_secs_f64();
    if let Some(e) = &stored.error {
        anyhow::bail!("storing retained messages: {e}");
    }

    // Subscribe and time the delivery of all of them.
    let mut sub = within(
        common.setup_timeout,
        "connecting",
        Conn::open(&target, None, &format!("tb-{run}-s0"), &options, READ_CHUNK),
    )
    .await?;
    let gen_mark = CpuMark::now(Proc::This);
    let broker_mark = common.broker_pid.and_then(|pid| CpuMark::now(Proc::Pid(pid)));
    let subscribed_at = Instant::now();
    sub.send(&Packet::Subscribe(Subscribe {
        packet_id: std::num::NonZeroU16::MIN,
        filters: vec![SubscriptionRequest {
            filter: ByteString::from(format!("{prefix}/#")),
            options: SubscriptionOptions { qos: common.qos, ..SubscriptionOptions::default() },
        }],
        properties: Default::default(),
    }))?;
    sub.flush().await?;
    let mut result = SubscriberResult::default();
    let limit = common.duration + common.drain_timeout;
    let owed = stored.accepted.len();
    let outcome = tokio::time::timeout(
        limit,
        subscriber::receive_count(&mut sub, common.payload_size(), owed, &mut result),
    )
    .await;
    let subscribe_s = subscribed_at.elapsed().as_secs_f64();
    let generator = gen_mark.and_then(|m| m.usage());
    let broker_usage = broker_mark.and_then(|m| m.usage());
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => metrics.error(format!("subscriber: {e}")),
        Err(_) => metrics.error(format!("{} of {owed} retained messages after {limit:?}", result.received)),
    }
    sub.close().await;

    if !args.keep {
        clear(&mut publisher_conn, &topics).await.context("clearing the retained messages")?;
    }
    publisher_conn.close().await;

    let seen = result.seen.first().cloned().unwrap_or_default();
    let expected = &stored.accepted;
    Ok(Summary {
        scenario: "retained".to_owned(),
        broker: target.addr.to_string(),
        protocol: common.version.to_string(),
        qos: common.qos.as_u8(),
        payload_size: common.payload_size(),
        publishers: 1,
        subscribers: 1,
        elapsed_s: subscribe_s,
        messages: None,
        latency: None,
        connections: None,
        retained: Some(RetainedStats {
            stored: stored.accepted.len(),
            received: result.received,
            missing: seen.missing_from(expected),
            duplicated: seen.duplicates() + result.seen.iter().skip(1).map(SeqSet::len).sum::<u64>(),
            without_retain_flag: result.received.saturating_sub(result.retained),
            store_s,
            subscribe_s,
            rate: if subscribe_s > 0.0 { result.received as f64 / subscribe_s } else { 0.0 },
        }),
        filters: None,
        errors: get(&metrics.errors),
        error_samples: metrics.error_samples(),
        generator,
        broker_usage,
    })
}

/// Clears each topic's retained message with an empty retained PUBLISH (QoS 0, batched), then a round
/// trip so the broker has handled them.
async fn clear(conn: &mut Conn, topics: &[ByteString]) -> anyhow::Result<()> {
    let mut publish =
        Publish { retain: true, qos: QoS::AtMostOnce, payload: Bytes::new(), ..Publish::default() };
    for batch in topics.chunks(1000) {
        for topic in batch {
            publish.topic = topic.clone();
            conn.send(&Packet::Publish(publish.clone()))?;
        }
        conn.flush().await?;
    }
    conn.round_trip().await?;
    Ok(())
}
