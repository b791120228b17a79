//! Packets from the client: PUBLISH and its acknowledgements, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT.

use std::num::NonZeroU16;
use std::sync::Arc;
use std::time::Instant;

use tern_codec::topic::parse_shared;
use tern_codec::{
    Ack, Packet, Properties, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, UnsubAck,
    Unsubscribe,
};
use tern_proto::{InboundPublish, PubRecOutcome};
use tracing::info;

use super::{Connection, Exit};
use crate::auth::cache::Check;
use crate::auth::is_reserved_for_publish;
use crate::broker::NEVER_EXPIRES;
use crate::message::Message;
use crate::overload::RateExceeded;
use crate::session::{Delivery, Subscription};
use crate::stats::{LimitKind, Stats};

/// Levels of a topic name or filter (`a/b` has 2, `/` has 2).
pub(crate) fn topic_levels(topic: &str) -> usize {
    topic.bytes().filter(|&b| b == b'/').count() + 1
}

impl Connection {
    pub(super) fn handle_packet(&mut self, packet: Packet) -> Result<(), Exit> {
        match packet {
            Packet::Publish(publish) => self.on_publish(publish),
            Packet::PubAck(ack) => {
                // An unknown id is a late duplicate: nothing to do.
                if let Ok(Some(delivery)) = self.outbound.on_puback(ack.packet_id) {
                    self.dequeue_stored(&delivery);
                }
                Ok(())
            }
            Packet::PubRec(ack) => {
                self.on_pubrec(ack);
                Ok(())
            }
            Packet::PubRel(ack) => {
                let found = self.inbound.on_pubrel(ack.packet_id);
                let mut comp = Ack::new(ack.packet_id);
                if !found && self.version.is_v5() {
                    comp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                // The client may reuse the identifier once it has PUBCOMP: a restart must not take a new
                // message with it for a duplicate, so the stored identifier goes first.
                let lsn = match self.session.durable() {
                    Some(d) if found => Some(d.released_inbound(&self.client_id, ack.packet_id.get())),
                    _ => None,
                };
                self.send_packet_after(lsn, &Packet::PubComp(comp));
                Ok(())
            }
            Packet::PubComp(ack) => {
                if self.outbound.on_pubcomp(ack.packet_id).is_ok() {
                    if let Some(d) = self.session.durable() {
                        d.completed_qos2(&self.client_id, ack.packet_id.get());
                    }
                }
                Ok(())
            }
            Packet::Subscribe(subscribe) => {
                self.check_subscribe_features(&subscribe)?;
                self.on_subscribe(subscribe);
                Ok(())
            }
            Packet::Unsubscribe(unsubscribe) => {
                self.on_unsubscribe(unsubscribe);
                Ok(())
            }
            Packet::PingReq => {
                self.send_packet(&Packet::PingResp);
                Ok(())
            }
            Packet::Disconnect(disconnect) => self.on_disconnect(disconnect),
            Packet::Connect(_) => {
                Err(Exit::violation(ReasonCode::PROTOCOL_ERROR, "[MQTT-3.1.0-2] second CONNECT"))
            }
            Packet::Auth(auth) => self.on_auth(auth),
            other => Err(Exit::violation(
                ReasonCode::PROTOCOL_ERROR,
                format!("[MQTT-2.1.2] a client does not send {:?}", other.packet_type()),
            )),
        }
    }

    /// The reason string for an ack, if the client wants problem information [MQTT-3.1.2-29].
    fn reason_properties(&self, reason: &str) -> Properties {
        let mut p = Properties::default();
        if self.version.is_v5() && self.problem_information {
            p.reason_string = Some(reason.into());
        }
        p
    }

    fn ack_publish(&mut self, qos: QoS, packet_id: Option<NonZeroU16>, reason: ReasonCode, why: &str) {
        self.ack_publish_after(None, qos, packet_id, reason, why);
    }

    /// Acknowledges a PUBLISH once `lsn` (the durable state it created) is durable.
    fn ack_publish_after(
        &mut self,
        lsn: Option<u64>,
        qos: QoS,
        packet_id: Option<NonZeroU16>,
        reason: ReasonCode,
        why: &str,
    ) {
        let Some(packet_id) = packet_id else { return };
        let mut ack = Ack::new(packet_id);
        if self.version.is_v5() {
            ack.reason_code = reason;
            if reason.is_error() {
                ack.properties = self.reason_properties(why);
                // [MQTT-3.4.2-2] Not at the price of a packet larger than the client accepts (PUBACK and
                // PUBREC have the same size).
                if Packet::PubAck(ack.clone()).encoded_len(self.version) > self.client_max_packet as usize {
                    ack.properties = Properties::default();
                }
            }
        }
        match qos {
            QoS::AtMostOnce => {}
            QoS::AtLeastOnce => {
                self.send_packet_after(lsn, &Packet::PubAck(ack));
                self.inbound.puback_sent();
            }
            QoS::ExactlyOnce => {
                if ack.reason_code.is_error() {
                    // A PUBREC of 0x80 or more ends the exchange [MQTT-4.3.3]: no PUBREL will come, so the
                    // identifier is free (and no longer counts against the Receive Maximum) at once.
                    self.inbound.on_pubrel(packet_id);
                }
                self.send_packet_after(lsn, &Packet::PubRec(ack));
            }
        }
    }

    /// A stored delivery is done with: it leaves the store.
    pub(super) fn dequeue_stored(&self, delivery: &Delivery) {
        if delivery.seq != 0 {
            if let Some(d) = self.session.durable() {
                d.dequeue(&self.client_id, delivery);
            }
        }
    }

    fn on_publish(&mut self, mut publish: Publish) -> Result<(), Exit> {
        Stats::add(&self.broker.stats.publish_received, 1);
        self.broker.stats.publish_in(publish.qos, publish.payload.len());
        if let Some(rate) = &mut self.rate {
            if let Err(exceeded) = rate.admit(publish.payload.len(), Instant::now()) {
                return Err(self.rate_exceeded(exceeded));
            }
        }
        if publish.qos.as_u8() > self.listener.max_qos {
            // [MQTT-3.2.2-11] More than the advertised Maximum QoS.
            return Err(Exit::violation(ReasonCode::QOS_NOT_SUPPORTED, "QoS above the server's Maximum QoS"));
        }
        if publish.retain && !self.announced.retain_available {
            return Err(Exit::violation(
                ReasonCode::RETAIN_NOT_SUPPORTED,
                "[MQTT-3.2.2-14] retain is not available",
            ));
        }
        let topic = self
            .aliases_in
            .resolve(&publish.topic, publish.properties.topic_alias)
            .map_err(|e| Exit::violation(e.reason_code(), e.to_string()))?;
        let qos = publish.qos;
        let packet_id = publish.packet_id;
        match self.inbound.on_publish(qos, packet_id) {
            Ok(InboundPublish::Deliver) => {}
            Ok(InboundPublish::Duplicate) => {
                // [MQTT-4.3.3-10] Already received: acknowledge again, do not deliver twice.
                self.ack_publish(qos, packet_id, ReasonCode::SUCCESS, "");
                return Ok(());
            }
            Err(e) => return Err(Exit::violation(e.reason_code(), e.to_string())),
        }
        let log = &self.broker.config.log;
        if log.verbose {
            // Mosquitto's line; the payload only when the operator asked for it.
            let payload = if log.payloads {
                format!(" payload '{}'", crate::config::log::payload_for_log(&publish.payload))
            } else {
                String::new()
            };
            info!(
                "Received PUBLISH from {} (d{}, q{}, r{}, m{}, '{}', ... ({} bytes)){payload}",
                self.client_id,
                u8::from(publish.dup),
                qos.as_u8(),
                u8::from(publish.retain),
                packet_id.map_or(0, NonZeroU16::get),
                topic,
                publish.payload.len()
            );
        }
        let limits = self.broker.limits.current();
        let size_limit = limits.message_size_limit;
        if size_limit > 0 && publish.payload.len() > size_limit as usize {
            self.ack_publish(qos, packet_id, ReasonCode::QUOTA_EXCEEDED, "message_size_limit exceeded");
            return Ok(());
        }
        let max_levels = limits.max_topic_levels;
        if max_levels > 0 && topic_levels(&topic) > max_levels {
            self.broker.stats.limit_hit(LimitKind::TopicLevels);
            self.ack_publish(qos, packet_id, ReasonCode::TOPIC_NAME_INVALID, "max_topic_levels exceeded");
            return Ok(());
        }
        if self.broker.config.mqtt.validate_utf8_payloads
            && publish.properties.payload_format_indicator == Some(true)
            && std::str::from_utf8(&publish.payload).is_err()
        {
            // MQTT 5.0 3.3.2.3.2: a payload that says UTF-8 and is not. QoS 1/2: refused in the ack;
            // QoS 0 has no ack, so DISCONNECT 0x99 is the only way to tell the publisher.
            if qos == QoS::AtMostOnce {
                return Err(Exit::violation(ReasonCode::PAYLOAD_FORMAT_INVALID, "payload is not UTF-8"));
            }
            self.ack_publish(
                qos,
                packet_id,
                ReasonCode::PAYLOAD_FORMAT_INVALID,
                "payload is not valid UTF-8",
            );
            return Ok(());
        }
        let reserved = is_reserved_for_publish(&topic);
        let topic = self.mount(&topic);
        if reserved || !self.authorized(Check::Publish, &topic) {
            // v5: 0x87; 3.x: acknowledged and dropped, as Mosquitto does.
            self.ack_publish(
                qos,
                packet_id,
                ReasonCode::NOT_AUTHORIZED,
                "not authorized to publish to this topic",
            );
            return Ok(());
        }
        let durable = self.broker.durable.clone().filter(|_| qos != QoS::AtMostOnce);
        if let Some(d) = &durable {
            if d.is_failing() && self.version.is_v5() {
                // Nothing is acknowledged that the store could not keep: refused, not routed.
                self.ack_publish(
                    qos,
                    packet_id,
                    ReasonCode::QUOTA_EXCEEDED,
                    "the store cannot write (disk full?)",
                );
                return Ok(());
            }
        }
        let before = durable.as_ref().map(|d| d.submitted());
        publish.topic = topic.clone();
        let message = Message::from_publish(publish, topic, Some(self.client_id.clone()), Instant::now());
        let mut outcome = self.broker.publish(Arc::new(message));
        if let (QoS::ExactlyOnce, Some(d), Some(id)) = (qos, self.session.durable(), packet_id) {
            d.received_qos2(&self.client_id, id.get());
        }
        let lsn = durable.as_ref().map(|d| d.submitted()).filter(|after| Some(*after) != before);
        // Flow control: when every recipient of this message is above its queue limit (fan-in), the
        // publisher reads no more until they drain (see `run`); that holds no other subscriber back. When
        // some recipient keeps up, the publisher carries on at its pace: the congested ones hold QoS 1/2
        // above their limit, up to twice it (see `Mailbox`).
        if !outcome.congested.is_empty() && outcome.congested.len() == outcome.delivered {
            Stats::add(&self.broker.stats.flow_control_waits, 1);
            self.congested.append(&mut outcome.congested);
        }
        // 0x10 only when no subscription matched at all, not when the matching sessions did not take it.
        // 0x97 when sessions matched but their queues were full: the message went nowhere. (A QoS 0
        // message an offline session does not queue is not a quota: that is Success.)
        let reason = match (outcome.delivered, outcome.dropped, outcome.full, self.version.is_v5()) {
            (0, 0, _, true) => ReasonCode::NO_MATCHING_SUBSCRIBERS,
            (0, _, full, true) if full > 0 => ReasonCode::QUOTA_EXCEEDED,
            _ => ReasonCode::SUCCESS,
        };
        self.ack_publish_after(lsn, qos, packet_id, reason, "the subscribers' queues are full");
        Ok(())
    }

    /// The client publishes faster than `max_publish_rate` / `max_publish_bytes_rate` allow.
    fn rate_exceeded(&self, exceeded: RateExceeded) -> Exit {
        match exceeded {
            RateExceeded::Messages => {
                self.broker.stats.limit_hit(LimitKind::PublishRate);
                Exit::violation(ReasonCode::MESSAGE_RATE_TOO_HIGH, "max_publish_rate exceeded")
            }
            RateExceeded::Bytes => {
                self.broker.stats.limit_hit(LimitKind::ByteRate);
                Exit::violation(ReasonCode::QUOTA_EXCEEDED, "max_publish_bytes_rate exceeded")
            }
        }
    }

    /// Why a new subscription to `filter` is refused by the overload limits, if it is.
    fn subscription_limit(&self, filter: &str) -> Option<ReasonCode> {
        let limits = self.broker.limits.current();
        let inner = match parse_shared(filter) {
            Some(Ok(shared)) => shared.filter,
            _ => filter,
        };
        if limits.max_topic_levels > 0 && topic_levels(inner) > limits.max_topic_levels {
            self.broker.stats.limit_hit(LimitKind::TopicLevels);
            return Some(ReasonCode::TOPIC_FILTER_INVALID);
        }
        let max = limits.max_subscriptions_per_client;
        if max > 0 {
            let state = self.session.state.lock();
            if !state.subscriptions.contains_key(filter) && state.subscriptions.len() >= max {
                drop(state);
                self.broker.stats.limit_hit(LimitKind::Subscriptions);
                return Some(ReasonCode::QUOTA_EXCEEDED);
            }
        }
        None
    }

    fn on_pubrec(&mut self, ack: Ack) {
        match self.outbound.on_pubrec(ack.packet_id, ack.reason_code) {
            Ok(PubRecOutcome::Release(delivery)) => {
                // Stored first: after a restart the exchange resumes with PUBREL, never a second PUBLISH.
                let lsn = match self.session.durable() {
                    Some(d) if delivery.seq != 0 => {
                        Some(d.released_qos2(&self.client_id, &delivery, ack.packet_id.get()))
                    }
                    _ => None,
                };
                self.send_packet_after(lsn, &Packet::PubRel(Ack::new(ack.packet_id)));
            }
            Ok(PubRecOutcome::ReleaseAgain) => {
                self.send_packet(&Packet::PubRel(Ack::new(ack.packet_id)));
            }
            Ok(PubRecOutcome::Refused(delivery, _)) => self.dequeue_stored(&delivery),
            Err(_) => {
                // [MQTT-4.3.3] Unknown id: release it anyway so the client can complete its state.
                let mut rel = Ack::new(ack.packet_id);
                if self.version.is_v5() {
                    rel.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                }
                self.send_packet(&Packet::PubRel(rel));
            }
        }
    }

    /// A 5.0 client told in CONNACK that a kind of subscription is not available and asking for it anyway
    /// commits a Protocol Error, answered with DISCONNECT and the reason code of that feature (MQTT 5.0
    /// 3.2.2.3.11-13). A 3.x client was never told: its filter is refused in SUBACK (see `on_subscribe`).
    fn check_subscribe_features(&self, subscribe: &Subscribe) -> Result<(), Exit> {
        if !self.version.is_v5() {
            return Ok(());
        }
        let limits = &self.announced;
        if !limits.subscription_identifiers_available
            && !subscribe.properties.subscription_identifiers.is_empty()
        {
            let why = "Subscription Identifier while Subscription Identifiers Available is 0";
            return Err(Exit::violation(ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED, why));
        }
        for request in &subscribe.filters {
            if let Some(rc) = self.unavailable_subscription(&request.filter) {
                return Err(Exit::violation(rc, format!("SUBSCRIBE to {}: {rc}", request.filter)));
            }
        }
        Ok(())
    }

    /// The reason a subscription to `filter` is of a kind this broker was configured not to offer, if it is.
    fn unavailable_subscription(&self, filter: &str) -> Option<ReasonCode> {
        let limits = &self.announced;
        let inner = match parse_shared(filter) {
            Some(_) if !limits.shared_subscription_available => {
                return Some(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED)
            }
            Some(Ok(shared)) => shared.filter,
            _ => filter,
        };
        let wildcard = inner.split('/').any(|level| level == "+" || level == "#");
        (wildcard && !limits.wildcard_subscription_available)
            .then_some(ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED)
    }

    fn on_subscribe(&mut self, subscribe: Subscribe) {
        let subscription_id = subscribe.properties.subscription_identifiers.first().copied();
        let max_qos = QoS::from_u8(self.listener.max_qos).unwrap_or(QoS::ExactlyOnce);
        let now = Instant::now();
        let mut reason_codes = Vec::with_capacity(subscribe.filters.len());
        for request in subscribe.filters {
            let filter = self.mount(&request.filter);
            if !self.authorized(Check::Subscribe, &filter) {
                reason_codes.push(ReasonCode::NOT_AUTHORIZED);
                continue;
            }
            if let Some(refused) = self.subscription_limit(&filter) {
                reason_codes.push(refused);
                continue;
            }
            if self.unavailable_subscription(&request.filter).is_some() {
                reason_codes.push(ReasonCode::UNSPECIFIED_ERROR); // 3.x: 0x80 Failure.
                continue;
            }
            let mut options = request.options;
            options.qos = options.qos.min(max_qos);
            if !self.version.is_v5() {
                options.no_local = false;
                options.retain_as_published = false;
                options.retain_handling = RetainHandling::SendAtSubscribe;
            }
            let subscription = Subscription { options, id: subscription_id };
            let existed = self.broker.router.subscribe(&filter, &self.session, subscription);
            self.session.state.lock().subscriptions.insert(filter.clone(), subscription);
            if self.broker.config.log.verbose {
                info!("{} {} {}", self.client_id, options.qos.as_u8(), filter);
            }
            reason_codes.push(ReasonCode::granted(options.qos));
            let send_retained = match options.retain_handling {
                RetainHandling::SendAtSubscribe => true,
                RetainHandling::SendAtSubscribeIfNew => !existed,
                RetainHandling::DoNotSend => false,
            };
            // Retained messages are not sent for a shared subscription [MQTT-3.8.4-..].
            if send_retained && parse_shared(&filter).is_none() {
                for message in self.broker.retained_matching(&filter, now) {
                    if !self.authorized(Check::Receive, &message.topic) {
                        continue;
                    }
                    // [MQTT-3.3.1-9] Retained messages sent on subscribe carry RETAIN = 1.
                    self.retained_backlog.push_back(Delivery {
                        qos: message.qos.min(options.qos),
                        retain: true,
                        subscription_ids: subscription_id.into_iter().collect(),
                        message,
                        shared: None,
                        seq: 0,
                    });
                }
            }
        }
        let ack = SubAck { packet_id: subscribe.packet_id, reason_codes, properties: Properties::default() };
        // A granted subscription of a persistent session survives a restart once acknowledged.
        let lsn = self.session.save(0);
        self.send_packet_after(lsn, &Packet::SubAck(ack));
    }

    fn on_unsubscribe(&mut self, unsubscribe: Unsubscribe) {
        let mut reason_codes = Vec::with_capacity(unsubscribe.filters.len());
        for filter in unsubscribe.filters {
            let filter = self.mount(&filter);
            let existed = self.broker.router.unsubscribe(&filter, &self.client_id);
            self.session.state.lock().subscriptions.remove(&filter);
            reason_codes.push(if existed {
                ReasonCode::SUCCESS
            } else {
                ReasonCode::NO_SUBSCRIPTION_EXISTED
            });
        }
        if !self.version.is_v5() {
            reason_codes.clear();
        }
        let ack =
            UnsubAck { packet_id: unsubscribe.packet_id, reason_codes, properties: Properties::default() };
        let lsn = self.session.save(0);
        self.send_packet_after(lsn, &Packet::UnsubAck(ack));
    }

    fn on_disconnect(&mut self, disconnect: tern_codec::Disconnect) -> Result<(), Exit> {
        if let Some(expiry) = disconnect.properties.session_expiry_interval {
            // [MQTT-3.14.2-2] A session that ended with its connection cannot be revived at DISCONNECT.
            if self.session_expiry == 0 && expiry != 0 {
                return Err(Exit::violation(
                    ReasonCode::PROTOCOL_ERROR,
                    "[MQTT-3.14.2-2] session expiry set at DISCONNECT after 0 at CONNECT",
                ));
            }
            self.session_expiry = if expiry == NEVER_EXPIRES { NEVER_EXPIRES } else { expiry };
        }
        Err(Exit::Disconnect {
            send_will: disconnect.reason_code == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE,
        })
    }
}
