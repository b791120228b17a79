#!/usr/bin/env python3
"""MQTT 5.0 features (and MQTT 3.1) end to end with Eclipse Paho (paho-mqtt 2.x) against an MQTT broker on
127.0.0.1. Paho passes what it receives through unresolved (topic aliases included), so each scenario
checks the broker's packets as sent.

Usage: paho_mqtt5_features.py --port PORT SCENARIO   (SCENARIO: one of the functions in SCENARIOS)

Each prints "ok SCENARIO" and exits 0 when the broker behaved, or explains what went wrong and exits 1. Some
expect the broker configured as crates/broker/tests/interop_mqtt5_features.rs starts it.
"""

import argparse
import os
import select
import socket
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from paho_mqtt5 import TIMEOUT, Client, fail


def props(packet_type, **values):
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def publish_props(**values):
    return props(PacketTypes.PUBLISH, **values)


def connect_props(**values):
    return props(PacketTypes.CONNECT, **values)


def expect(what, got, wanted):
    if got != wanted:
        fail(f"{what}: got {got!r}, expected {wanted!r}")


def prop(properties, name):
    return getattr(properties, name, None)


def codes(reason_codes):
    return [rc.value for rc in reason_codes]


def until_fence(client, fence):
    """The messages `client` gets before one on topic `fence`."""
    before = []
    while (msg := client.next_message()).topic != fence:
        before.append(msg)
    return before


def drop(client):
    """Closes the network connection without DISCONNECT, as a lost link does."""
    client.client.loop_stop()
    client.client.socket().shutdown(socket.SHUT_RDWR)


# --- Topic aliases (3.3.2.3.4) ---------------------------------------------------------------------------


def topic_alias_from_client(port):
    sub = Client(port, "paho-alias-sub")
    sub.subscribe("alias/#", 1)
    pub = Client(port, "paho-alias-pub")
    expect("Topic Alias Maximum in CONNACK", prop(pub.connack[1], "TopicAliasMaximum"), 10)
    sent = [("alias/first", 3), ("", 3), ("alias/second", 4), ("", 3), ("", 4)]
    for i, (topic, alias) in enumerate(sent):
        expect(f"PUBACK {i}", pub.publish(topic, f"m{i}", 1, properties=publish_props(TopicAlias=alias))[0].value, 0)
    got = [(m.topic, m.payload.decode(), prop(m.properties, "TopicAlias")) for m in (sub.next_message() for _ in sent)]
    resolved = ["alias/first", "alias/first", "alias/second", "alias/first", "alias/second"]
    # The subscriber allowed no aliases: full topics, no Topic Alias [MQTT-3.1.2-27].
    expect("deliveries", got, [(t, f"m{i}", None) for i, t in enumerate(resolved)])


def topic_alias_errors(port):
    # Paho refuses to send alias 0 itself.
    for alias, topic, reason in [(11, "alias/x", 0x94), (5, "", 0x94)]:
        c = Client(port, f"paho-alias-{alias}")
        c.publish(topic, "x", 0, properties=publish_props(TopicAlias=alias))
        # Above the maximum (the client broke [MQTT-3.3.2-9]), or never set and sent with an empty topic:
        # 0x94 Topic Alias invalid.
        expect(f"DISCONNECT for alias {alias} topic {topic!r}", c.next_disconnect().value, reason)


def topic_alias_to_client(port):
    aliased = Client(port, "paho-alias-down", properties=connect_props(TopicAliasMaximum=2))
    aliased.subscribe("down/#", 1)
    plain = Client(port, "paho-alias-plain")
    plain.subscribe("down/#", 1)
    pub = Client(port, "paho-alias-source", v5=False)
    topics = ["down/a", "down/b", "down/a", "down/b", "down/c", "down/a", "down/c"]
    for t in topics:
        pub.publish(t, t, 1)
    table = {}
    for i, t in enumerate(topics):
        m = aliased.next_message()
        alias = prop(m.properties, "TopicAlias")
        if alias is None or not 1 <= alias <= 2:
            fail(f"message {i} on {t}: Topic Alias {alias}, expected one within the maximum of 2")
        if m.topic:
            table[alias] = m.topic
        # The repeats of a and b while both hold an alias come as the alias alone.
        if i in (2, 3) and m.topic:
            fail(f"message {i} on {t}: topic {m.topic!r} sent again, its alias {alias} was set")
        expect(f"message {i} resolved", (table.get(alias), m.payload.decode()), (t, t))
    got = [(m.topic, prop(m.properties, "TopicAlias")) for m in (plain.next_message() for _ in topics)]
    expect("without Topic Alias Maximum [MQTT-3.1.2-27]", got, [(t, None) for t in topics])


# --- Message Expiry (3.3.2.3.3) --------------------------------------------------------------------------


def message_expiry(port):
    keep = connect_props(SessionExpiryInterval=60)
    sub = Client(port, "paho-expiry", properties=keep)
    sub.subscribe("expiry/#", 1)
    sub.stop()
    pub = Client(port, "paho-expiry-pub")
    pub.publish("expiry/short", "short", 1, properties=publish_props(MessageExpiryInterval=1))
    pub.publish("expiry/long", "long", 1, properties=publish_props(MessageExpiryInterval=60))
    time.sleep(2.2)  # longer than the short message may live
    sub = Client(port, "paho-expiry", properties=keep, clean_start=False)
    expect("session present", sub.session_present, True)
    got = [sub.next_message()] + sub.drain()
    expect("delivered [MQTT-3.3.2-5]", [m.payload for m in got], [b"long"])
    left = prop(got[0].properties, "MessageExpiryInterval")
    if left is None or not 50 <= left <= 58:
        fail(f"Message Expiry Interval {left} after 2.2 s of 60, expected it reduced [MQTT-3.3.2-6]")


# --- Subscription options (3.8.3.1) ----------------------------------------------------------------------


def no_local(port):
    c = Client(port, "paho-nolocal")
    c.subscribe("nl/t", options=SubscribeOptions(qos=1, noLocal=True))
    c.subscribe("nl/fence", 1)
    c.publish("nl/t", "own", 1)
    c.publish("nl/fence", "fence", 1)
    expect("own messages before the fence [MQTT-3.8.3-3]", until_fence(c, "nl/fence"), [])
    Client(port, "paho-nolocal-other").publish("nl/t", "other", 1)
    expect("another client's message", c.next_message().payload, b"other")


def retain_as_published(port):
    keep = Client(port, "paho-rap-1")
    keep.subscribe("rap/t", options=SubscribeOptions(qos=1, retainAsPublished=True))
    clear = Client(port, "paho-rap-0")
    clear.subscribe("rap/t", options=SubscribeOptions(qos=1, retainAsPublished=False))
    Client(port, "paho-rap-pub").publish("rap/t", "r", 1, retain=True)
    expect("retain flag with Retain As Published 1 [MQTT-3.3.1-13]", keep.next_message().retain, True)
    expect("retain flag with Retain As Published 0 [MQTT-3.3.1-12]", clear.next_message().retain, False)
    late = Client(port, "paho-rap-late")
    late.subscribe("rap/t", options=SubscribeOptions(qos=1, retainAsPublished=False))
    expect("retain flag of a retained message sent on subscribe [MQTT-3.3.1-9]", late.next_message().retain, True)


def retain_handling(port):
    pub = Client(port, "paho-rh-pub")
    pub.publish("rh/t", "kept", 1, retain=True)
    pub.publish("rh/fence", "fence", 1, retain=True)
    # Retained messages sent per subscription [MQTT-3.3.1-9] .. [MQTT-3.3.1-11]: new, then again.
    for handling, first, again in [(0, 1, 1), (1, 1, 0), (2, 0, 0)]:
        c = Client(port, f"paho-rh-{handling}")
        for when, count in [("new", first), ("existing", again)]:
            c.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=handling))
            c.subscribe("rh/fence", 1)
            got = [m.payload for m in until_fence(c, "rh/fence")]
            expect(f"Retain Handling {handling}, {when} subscription", got, [b"kept"] * count)


def granted_qos_and_connack_limits(port):
    c = Client(port, "paho-maxqos")
    expect("Maximum QoS in CONNACK", prop(c.connack[1], "MaximumQoS"), 1)
    expect("Retain Available in CONNACK", prop(c.connack[1], "RetainAvailable"), 0)
    filters = [("q/0", SubscribeOptions(qos=0)), ("q/1", SubscribeOptions(qos=1)),
               ("q/2", SubscribeOptions(qos=2)), ("secret/x", SubscribeOptions(qos=1))]
    expect("SUBACK reason codes [MQTT-3.9.3-1]", codes(c.subscribe(filters)), [0, 1, 1, 0x87])
    c.publish("q/2", "down", 1)
    expect("QoS of the delivery", c.next_message().qos, 1)
    for qos, retain, reason in [(2, False, 0x9B), (1, True, 0x9A)]:
        bad = Client(port, f"paho-over-{qos}-{retain}")
        bad.client.publish("q/1", "x", qos=qos, retain=retain)
        # The client broke [MQTT-3.2.2-11] (0x9B QoS not supported), [MQTT-3.2.2-14] (0x9A Retain not supported).
        expect(f"DISCONNECT for QoS {qos} retain {retain}", bad.next_disconnect().value, reason)


# --- Subscription Identifiers (3.8.2.1.2) ----------------------------------------------------------------


def subscription_identifiers(port):
    c = Client(port, "paho-subid")
    c.subscribe("sid/+", 1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=5))
    c.subscribe("sid/#", 1, properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=7))
    c.subscribe("plain/t", 1)
    pub = Client(port, "paho-subid-pub")
    for topic, ids in [("sid/a", [5, 7]), ("sid/a/b", [7]), ("plain/t", None)]:
        pub.publish(topic, topic, 1)
        got = prop(c.next_message().properties, "SubscriptionIdentifier")
        expect(f"Subscription Identifiers on {topic} [MQTT-3.3.4-3]", sorted(got) if got else None, ids)


# --- Properties passed through (3.3.2.3) -----------------------------------------------------------------


def request_response(port):
    responder = Client(port, "paho-responder")
    responder.subscribe("rr/request", 1)
    requester = Client(port, "paho-requester")
    requester.subscribe("rr/reply/paho", 1)
    correlation = b"\x00\xffreq-1"
    requester.publish("rr/request", "ping", 1,
                      properties=publish_props(ResponseTopic="rr/reply/paho", CorrelationData=correlation))
    request = responder.next_message()
    reply_to = prop(request.properties, "ResponseTopic")
    expect("Response Topic [MQTT-3.3.2-15]", reply_to, "rr/reply/paho")
    expect("Correlation Data [MQTT-3.3.2-16]", prop(request.properties, "CorrelationData"), correlation)
    responder.publish(reply_to, "pong", 1,
                      properties=publish_props(CorrelationData=prop(request.properties, "CorrelationData")))
    reply = requester.next_message()
    expect("reply", (reply.payload, prop(reply.properties, "CorrelationData")), (b"pong", correlation))


def publish_properties(port):
    sub = Client(port, "paho-props-sub")
    sub.subscribe("props/#", 1)
    pub = Client(port, "paho-props-pub")
    users = [("k", "1"), ("k", "2"), ("other", "ü")]
    pub.publish("props/t", '{"a":1}', 1,
                properties=publish_props(PayloadFormatIndicator=1, ContentType="application/json", UserProperty=users))
    pub.publish("props/plain", b"\xff", 1)
    for m, wanted in [(sub.next_message(), (1, "application/json", users)), (sub.next_message(), (None,) * 3)]:
        got = tuple(prop(m.properties, n) for n in ("PayloadFormatIndicator", "ContentType", "UserProperty"))
        # [MQTT-3.3.2-4], [MQTT-3.3.2-20], [MQTT-3.3.2-17], [MQTT-3.3.2-18]: unaltered, in order.
        expect(f"properties on {m.topic}", got, wanted)


# --- Server side of CONNECT / CONNACK (3.2.2.3) ----------------------------------------------------------


def assigned_client_identifier(port):
    assigned = [prop(Client(port, "").connack[1], "AssignedClientIdentifier") for _ in range(2)]
    if not all(a and a.startswith("auto-") for a in assigned) or assigned[0] == assigned[1]:
        fail(f"Assigned Client Identifiers {assigned}: expected two distinct auto-... ids [MQTT-3.2.2-16]")
    expect("Assigned Client Identifier for a named client", prop(Client(port, "named").connack[1],
                                                                  "AssignedClientIdentifier"), None)


def server_keep_alive(port):
    for asked, told in [(30, 10), (0, 10), (5, None)]:
        c = Client(port, f"paho-ka-{asked}", keepalive=asked)
        # [MQTT-3.2.2-21] the client must use the Server Keep Alive: paho adopts it.
        expect(f"Server Keep Alive for {asked}", prop(c.connack[1], "ServerKeepAlive"), told)
        expect(f"paho's keep-alive for {asked}", c.client.keepalive, told or asked)


def receive_maximum(port):
    sub = Client(port, "paho-rm", properties=connect_props(ReceiveMaximum=2), manual_ack=True)
    sub.subscribe("rm/t", 1)
    pub = Client(port, "paho-rm-pub")
    for i in range(5):
        pub.publish("rm/t", f"m{i}", 1)
    unacked = []
    # [MQTT-3.3.4-7], [MQTT-3.3.4-9]: never more than 2 unacknowledged; each PUBACK lets one more through.
    for acks, wanted in enumerate(([b"m0", b"m1"], [b"m2"], [b"m3"], [b"m4"])):
        batch = [sub.next_message() for _ in wanted] + sub.drain()
        expect(f"deliveries after {acks} PUBACKs", [m.payload for m in batch], wanted)
        unacked += batch
        sub.client.ack(unacked.pop(0).mid, 1)


def reason_string(port):
    # [MQTT-3.1.2-29]: a Reason String only if Request Problem Information is absent or 1.
    for request, shown in [(None, True), (1, True), (0, False)]:
        p = connect_props() if request is None else connect_props(RequestProblemInformation=request)
        c = Client(port, f"paho-rpi-{request}", properties=p)
        for topic, payload, reason in [("secret/t", "x", 0x87), ("open/t", b"\xff", 0x99)]:
            rc, ack = c.publish(topic, payload, 1, properties=publish_props(PayloadFormatIndicator=1))
            expect(f"PUBACK to {topic} with Request Problem Information {request}", rc.value, reason)
            expect(f"Reason String with Request Problem Information {request}",
                   prop(ack, "ReasonString") is not None, shown)


# --- Will Delay Interval (3.1.3.2.2) ---------------------------------------------------------------------


def will_delay(port):
    watcher = Client(port, "paho-will-watch")
    watcher.subscribe("will/#", 1)
    session = connect_props(SessionExpiryInterval=10)
    delayed = props(PacketTypes.WILLMESSAGE, WillDelayInterval=1)
    late = Client(port, "paho-will-late", properties=session, will=("will/late", "late", 1, False, delayed))
    back = Client(port, "paho-will-back", properties=session, will=("will/back", "back", 1, False, delayed))
    start = time.monotonic()
    drop(late)
    drop(back)
    Client(port, "paho-will-back", properties=session, clean_start=False)
    will = watcher.next_message()
    waited = time.monotonic() - start
    expect("will", will.topic, "will/late")
    if not 0.9 <= waited <= 3:
        fail(f"will published {waited:.2f} s after the connection was lost, expected after its 1 s delay")
    # [MQTT-3.1.3-9] The client that came back within the delay has no will published.
    expect("wills after the delay", [m.topic for m in watcher.drain()], [])


# --- DISCONNECT from the server (3.14.2.1) ---------------------------------------------------------------


def session_taken_over(port):
    first = Client(port, "paho-takeover")
    second = Client(port, "paho-takeover")
    expect("DISCONNECT of the first connection [MQTT-3.1.4-3]", first.next_disconnect().value, 0x8E)
    expect("the second connection works", codes(second.subscribe("take/t", 1)), [1])


def keep_alive_timeout(port):
    c = Client(port, "paho-silent", keepalive=1)
    c.client.loop_stop()  # no more PINGREQ
    start = time.monotonic()
    sock = c.client.socket()
    while True:
        if not select.select([sock], [], [], TIMEOUT)[0]:
            fail("the broker kept a silent client connected")
        if sock.recv(1, socket.MSG_PEEK) != b"\xd0":
            break
        sock.recv(2)  # the PINGRESP to a PINGREQ sent before the loop stopped
    waited = time.monotonic() - start
    while c.disconnects.empty() and time.monotonic() - start < TIMEOUT:
        c.client.loop(0.1)  # paho reads what came: a DISCONNECT, or the close
    expect("DISCONNECT of a silent client [MQTT-3.1.2-22]", c.next_disconnect().value, 0x8D)
    # 1.5 keep-alives after the last packet, which was sent at most 1 s before the loop stopped.
    if waited < 0.5:
        fail(f"disconnected {waited:.2f} s after the client fell silent, before 1.5 keep-alives")


def session_expiry_raised_at_disconnect(port):
    watcher = Client(port, "paho-sei-watch")
    watcher.subscribe("sei/#", 1)
    normal = Client(port, "paho-sei-ok", will=("sei/ok", "ok", 1))
    normal.stop()
    bad = Client(port, "paho-sei-bad", will=("sei/bad", "bad", 1))
    bad.client.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=10))
    # 0 at CONNECT, non-zero at DISCONNECT: a protocol error (0x82), not a normal DISCONNECT: the will is
    # published. Paho closes the socket after its DISCONNECT, so the broker's is not seen.
    expect("wills", [m.topic for m in [watcher.next_message()] + watcher.drain()], ["sei/bad"])


# --- Session Expiry Interval (3.1.2.11.2) ----------------------------------------------------------------


def session_expiry(port):
    session = connect_props(SessionExpiryInterval=2)
    c = Client(port, "paho-sei", properties=session)
    c.subscribe("sei/t", 1)
    c.stop()
    pub = Client(port, "paho-sei-pub")
    pub.publish("sei/t", "queued", 1)
    time.sleep(1)
    c = Client(port, "paho-sei", properties=session, clean_start=False)
    expect("session present within the interval [MQTT-3.2.2-3]", c.session_present, True)
    expect("queued message", c.next_message().payload, b"queued")
    c.stop()
    pub.publish("sei/t", "lost", 1)
    time.sleep(2.6)
    c = Client(port, "paho-sei", properties=session, clean_start=False)
    expect("session present after the interval [MQTT-3.1.2-23]", c.session_present, False)
    expect("messages of the expired session", c.drain(), [])


# --- MQTT 3.1 --------------------------------------------------------------------------------------------


def mqtt31(port):
    sub = Client(port, "paho31-sub", protocol=mqtt.MQTTv31)
    expect("SUBACK", codes(sub.subscribe([("v31/1", 1), ("v31/2", 2)])), [1, 2])
    pub = Client(port, "paho31-pub", protocol=mqtt.MQTTv31)
    for qos in (1, 2):
        pub.publish(f"v31/{qos}", f"q{qos}", qos)
        m = sub.next_message()
        expect("delivery", (m.topic, m.payload, m.qos), (f"v31/{qos}", f"q{qos}".encode(), qos))
    Client(port, "x" * 23, protocol=mqtt.MQTTv31)
    refused = Client(port, "x" * 24, protocol=mqtt.MQTTv31, expect_refusal=True)
    # MQTT 3.1: a client id of 1 to 23 characters; a longer one gets return code 2 (identifier rejected),
    # which paho reports as 0x85 Client identifier not valid.
    expect("CONNACK for a 24-character id", refused.connack[0].value, 0x85)


SCENARIOS = {f.__name__: f for f in [
    topic_alias_from_client, topic_alias_errors, topic_alias_to_client, message_expiry, no_local,
    retain_as_published, retain_handling, granted_qos_and_connack_limits, subscription_identifiers,
    request_response, publish_properties, assigned_client_identifier, server_keep_alive, receive_maximum,
    reason_string, will_delay, session_taken_over, keep_alive_timeout, session_expiry_raised_at_disconnect,
    session_expiry, mqtt31,
]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args()
    timer = threading.Timer(3 * TIMEOUT, lambda: (print("FAIL: timed out", flush=True), os._exit(1)))
    timer.daemon = True
    timer.start()
    SCENARIOS[args.scenario](args.port)
    print(f"ok {args.scenario}", flush=True)


if __name__ == "__main__":
    main()
