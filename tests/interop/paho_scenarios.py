#!/usr/bin/env python3
"""Interop scenarios for Eclipse Paho (paho-mqtt 2.x) against an MQTT broker on 127.0.0.1.

Usage: paho_scenarios.py --port PORT --protocol 311|5 SCENARIO

Scenarios: pubsub_wildcards, qos, retained, will, persistent (and will_client, the helper that the will
scenario starts and kills). Each prints "ok SCENARIO" and exits 0 when the broker behaved, or explains what
went wrong and exits 1. Run by crates/broker/tests/interop_paho.rs.
"""

import argparse
import os
import queue
import subprocess
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
    """A paho client with its network loop in a thread and received messages in a queue."""

    def __init__(self, args, client_id, clean=True, session_expiry=None, will=None):
        self.v5 = args.protocol == "5"
        protocol = mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311
        kwargs = {} if self.v5 else {"clean_session": clean}
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs)
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.session_present = None
        self.granted = None
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        if will:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos=qos, retain=retain)
        properties = None
        connect_kwargs = {}
        if self.v5:
            connect_kwargs["clean_start"] = clean
            if session_expiry is not None:
                properties = Properties(PacketTypes.CONNECT)
                properties.SessionExpiryInterval = session_expiry
        self.client.connect("127.0.0.1", args.port, keepalive=30, properties=properties, **connect_kwargs)
        self.client.loop_start()
        if not self.connected.wait(TIMEOUT):
            fail(f"{client_id}: no CONNACK")

    def _on_connect(self, _client, _userdata, flags, reason_code, _properties):
        if reason_code.is_failure:
            fail(f"connection refused: {reason_code}")
        self.session_present = flags.session_present
        self.connected.set()

    def _on_subscribe(self, _client, _userdata, _mid, reason_codes, _properties):
        self.granted = [rc.value for rc in reason_codes]
        self.subscribed.set()

    def subscribe(self, topics):
        """Subscribes to [(filter, qos)] and waits for the SUBACK."""
        self.subscribed.clear()
        self.client.subscribe(topics)
        if not self.subscribed.wait(TIMEOUT):
            fail(f"no SUBACK for {topics}")
        return self.granted

    def publish(self, topic, payload, qos=0, retain=False):
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(TIMEOUT)
        if not info.is_published():
            fail(f"publish to {topic} at QoS {qos} not completed")

    def expect(self, what):
        try:
            return self.messages.get(timeout=TIMEOUT)
        except queue.Empty:
            fail(f"no message: expected {what}")

    def expect_nothing(self):
        try:
            msg = self.messages.get(timeout=QUIET)
        except queue.Empty:
            return
        fail(f"unexpected message on {msg.topic}: {msg.payload!r}")

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def pubsub_wildcards(args, tag):
    sub = Client(args, f"paho-wild-sub-{tag}")
    sub.subscribe([(f"paho/{tag}/+/temp", 0), (f"paho/{tag}/house/#", 0)])
    pub = Client(args, f"paho-wild-pub-{tag}")
    sent = [f"paho/{tag}/kitchen/temp", f"paho/{tag}/house/hall/light", f"paho/{tag}/house", f"paho/{tag}/kitchen/hum"]
    for topic in sent:
        pub.publish(topic, f"to {topic}")
    got = sorted(sub.expect(topic).topic for topic in sent[:3])
    if got != sorted(sent[:3]):
        fail(f"received {got}, expected {sorted(sent[:3])}")
    sub.expect_nothing()
    sub.close()
    pub.close()


def qos(args, tag):
    sub = Client(args, f"paho-qos-sub-{tag}")
    granted = sub.subscribe([(f"paho/{tag}/qos", 2)])
    if granted != [2]:
        fail(f"granted {granted}, expected [2]")
    pub = Client(args, f"paho-qos-pub-{tag}")
    for q in (0, 1, 2):
        pub.publish(f"paho/{tag}/qos", f"qos {q}", qos=q)
    got = sorted((msg.payload, msg.qos) for msg in (sub.expect(f"message {i} of 3") for i in range(3)))
    if got != [(b"qos 0", 0), (b"qos 1", 1), (b"qos 2", 2)]:
        fail(f"got {got}, expected each message at its own QoS")
    sub.expect_nothing()
    sub.close()
    pub.close()


def retained(args, tag):
    topic = f"paho/{tag}/retained"
    pub = Client(args, f"paho-ret-pub-{tag}")
    pub.publish(topic, "first", qos=1, retain=True)
    pub.publish(topic, "latest", qos=1, retain=True)
    sub = Client(args, f"paho-ret-sub-{tag}")
    sub.subscribe([(f"paho/{tag}/#", 1)])
    msg = sub.expect("the retained message")
    if (msg.payload, msg.retain, msg.qos) != (b"latest", True, 1):
        fail(f"got {msg.payload!r} retain={msg.retain} qos={msg.qos}, expected 'latest' retained at QoS 1")
    sub.expect_nothing()
    pub.publish(topic, "live", qos=1)
    msg = sub.expect("the live message")
    if (msg.payload, msg.retain) != (b"live", False):
        fail(f"live message: {msg.payload!r} retain={msg.retain}")
    pub.publish(topic, b"", qos=1, retain=True)  # clears it
    sub.expect("the clearing message")
    late = Client(args, f"paho-ret-late-{tag}")
    late.subscribe([(f"paho/{tag}/#", 1)])
    late.expect_nothing()
    for c in (pub, sub, late):
        c.close()


def will(args, tag):
    topic = f"paho/{tag}/will"
    watcher = Client(args, f"paho-will-watch-{tag}")
    watcher.subscribe([(topic, 1)])
    child = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--port", str(args.port), "--protocol", args.protocol,
         "--topic", topic, "will_client"],
        stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        if line != "connected":
            fail(f"will client said {line!r}")
        watcher.expect_nothing()  # alive: no will yet
        child.kill()  # SIGKILL: no DISCONNECT
        child.wait(TIMEOUT)
        msg = watcher.expect("the will of the killed client")
        if (msg.topic, msg.payload, msg.qos, msg.retain) != (topic, b"died", 1, False):
            fail(f"will: {msg.topic} {msg.payload!r} qos={msg.qos} retain={msg.retain}")
    finally:
        if child.poll() is None:
            child.kill()
    watcher.close()


def will_client(args, _tag):
    c = Client(args, f"paho-will-client-{args.protocol}", will=(args.topic, "died", 1, False))
    print("connected", flush=True)
    while True:
        time.sleep(1)


def persistent(args, tag):
    topic = f"paho/{tag}/persistent"
    client_id = f"paho-persist-{tag}"
    sub = Client(args, client_id, clean=False, session_expiry=300)
    sub.subscribe([(topic, 2)])
    sub.close()
    pub = Client(args, f"paho-persist-pub-{tag}")
    for i, q in enumerate((1, 2, 1, 0)):
        pub.publish(topic, f"offline {i}", qos=q)
    pub.close()
    sub = Client(args, client_id, clean=False, session_expiry=300)
    if not sub.session_present:
        fail("session present is 0 when resuming the persistent session")
    # (Ordering is per QoS [MQTT-4.6.0-6]; paho hands QoS 2 messages over at PUBREL.)
    got = sorted(sub.expect(f"queued message {i}").payload for i in range(3))
    if got != [b"offline 0", b"offline 1", b"offline 2"]:
        fail(f"queued messages: {got}")
    sub.expect_nothing()  # the QoS 0 message is not queued
    sub.close()


SCENARIOS = {f.__name__: f for f in (pubsub_wildcards, qos, retained, will, will_client, persistent)}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--protocol", choices=["311", "5"], required=True)
    parser.add_argument("--topic")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    args = parser.parse_args()
    SCENARIOS[args.scenario](args, f"v{args.protocol}")
    print(f"ok {args.scenario}", flush=True)


if __name__ == "__main__":
    main()
