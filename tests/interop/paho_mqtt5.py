#!/usr/bin/env python3
"""MQTT 5 features with Eclipse Paho (paho-mqtt 2.x) against an MQTT broker on 127.0.0.1.

Usage: paho_mqtt5.py --port PORT SCENARIO

Scenarios:
  shared                 a v5 and a 3.1.1 member of $share/g/...: each message to exactly one of them
  response_information   CONNECT with Request Response Information 1 gets Response Information PREFIX+id
  payload_format_invalid a PUBLISH saying UTF-8 with bytes that are not gets PUBACK 0x99
  server_moved           CONNECT is refused with 0x9D and the Server Reference

Each prints "ok SCENARIO" and exits 0 when the broker behaved, or explains what went wrong and exits 1. Run
by crates/broker/tests/shared_subscriptions.rs and crates/broker/tests/mqtt5_server.rs.
"""

import argparse
import os
import queue
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 10.0
QUIET = 0.5


def fail(message):
    print(f"FAIL: {message}", flush=True)
    sys.exit(1)


class Client:
    """A paho client with its network loop in a thread; received messages, acks, SUBACKs and DISCONNECTs
    in queues. It never reconnects on its own: a scenario sees every disconnection."""

    def __init__(self, port, client_id, v5=True, properties=None, expect_refusal=False, protocol=None,
                 clean_start=True, keepalive=30, will=None, manual_ack=False):
        self.protocol = protocol or (mqtt.MQTTv5 if v5 else mqtt.MQTTv311)
        v3 = {} if self.protocol == mqtt.MQTTv5 else {"clean_session": clean_start}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=self.protocol,
                                  reconnect_on_failure=False, manual_ack=manual_ack, **v3)
        self.messages = queue.Queue()
        self.acks = queue.Queue()
        self.subacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.connected = threading.Event()
        self.connack = None
        self.session_present = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda _c, _u, _mid, codes, props: self.subacks.put(codes)
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        self.client.on_publish = lambda _c, _u, mid, rc, props: self.acks.put((rc, props))
        self.client.on_disconnect = lambda _c, _u, _flags, rc, props: self.disconnects.put((rc, props))
        if will is not None:
            self.client.will_set(*will)
        v5 = {"clean_start": clean_start} if self.protocol == mqtt.MQTTv5 else {}
        self.client.connect("127.0.0.1", port, keepalive=keepalive, properties=properties, **v5)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            fail(f"{client_id}: no CONNACK")
        if not expect_refusal and self.connack[0].is_failure:
            fail(f"{client_id}: refused {self.connack[0]}")

    def _on_connect(self, _client, _userdata, flags, reason_code, properties):
        self.connack = (reason_code, properties)
        self.session_present = flags.session_present
        self.connected.set()

    def subscribe(self, topic, qos=0, options=None, properties=None):
        """Subscribes and returns the SUBACK's reason codes."""
        self.client.subscribe(topic, qos, options=options, properties=properties)
        return wait(self.subacks, f"SUBACK for {topic}")

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        """Publishes and returns (reason code, properties) of its PUBACK (QoS 1) or PUBREC (QoS 2); for
        QoS 0, once it is sent."""
        self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        return wait(self.acks, f"ack of the PUBLISH to {topic!r}")

    def next_message(self):
        return wait(self.messages, "a message")

    def next_disconnect(self):
        """The reason code of the DISCONNECT the broker sent."""
        return wait(self.disconnects, "a DISCONNECT")[0]

    def drain(self):
        out = []
        while True:
            try:
                out.append(self.messages.get(timeout=QUIET))
            except queue.Empty:
                return out

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def wait(q, what):
    try:
        return q.get(timeout=TIMEOUT)
    except queue.Empty:
        fail(f"no {what}")


def shared(port):
    v5 = Client(port, "paho-share-v5")
    v311 = Client(port, "paho-share-v311", v5=False)
    v5.subscribe("$share/g/paho/jobs", 1)
    v311.subscribe("$share/g/paho/jobs", 1)
    publisher = Client(port, "paho-share-pub")
    for i in range(20):
        publisher.publish("paho/jobs", f"m{i}", qos=1)
    got_v5, got_v311 = v5.drain(), v311.drain()
    payloads = sorted(m.payload.decode() for m in got_v5 + got_v311)
    if payloads != sorted(f"m{i}" for i in range(20)):
        fail(f"expected every message exactly once, got {payloads}")
    if not got_v5 or not got_v311:
        fail(f"both members should get messages: v5 {len(got_v5)}, 3.1.1 {len(got_v311)}")
    for c in (v5, v311, publisher):
        c.stop()


def response_information(port):
    props = Properties(PacketTypes.CONNECT)
    props.RequestResponseInformation = 1
    c = Client(port, "paho-rri", properties=props)
    info = getattr(c.connack[1], "ResponseInformation", None)
    if info != "reply/paho-rri":
        fail(f"Response Information {info!r}")
    plain = Client(port, "paho-no-rri")
    if hasattr(plain.connack[1], "ResponseInformation"):
        fail("Response Information sent without being requested [MQTT-3.1.2-28]")
    c.stop()
    plain.stop()


def payload_format_invalid(port):
    c = Client(port, "paho-pfi")
    props = Properties(PacketTypes.PUBLISH)
    props.PayloadFormatIndicator = 1
    rc, _ = c.publish("paho/pfi", b"\xff\xfe", qos=1, properties=props)
    if rc.value != 0x99:
        fail(f"PUBACK {rc} for an invalid UTF-8 payload, expected 0x99")
    c.stop()


def server_moved(port):
    c = Client(port, "paho-moved", expect_refusal=True)
    rc, props = c.connack
    if rc.value != 0x9D:
        fail(f"CONNACK {rc}, expected 0x9D Server moved")
    if getattr(props, "ServerReference", None) != "other.example:1883":
        fail(f"Server Reference {getattr(props, 'ServerReference', None)!r}")
    c.client.loop_stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("scenario")
    args = parser.parse_args()
    scenarios = {
        "shared": shared,
        "response_information": response_information,
        "payload_format_invalid": payload_format_invalid,
        "server_moved": server_moved,
    }
    timer = threading.Timer(6 * TIMEOUT, lambda: (print("FAIL: timed out", flush=True), os._exit(1)))
    timer.daemon = True
    timer.start()
    scenarios[args.scenario](args.port)
    print(f"ok {args.scenario}", flush=True)


if __name__ == "__main__":
    main()
