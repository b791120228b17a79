#!/usr/bin/env python3
"""Test whether a broker serves Eclipse Paho (paho-mqtt 2.x): connect over TCP, TLS, WebSocket, WebSocket
over TLS or a Unix socket, subscribe to a topic, publish to it at QoS 1 and print what comes back.

Prints `received TOPIC PAYLOAD` and exits 0 on success; `refused CODE` (exit 2), `timeout` (exit 3),
`error: ...` (exit 4, e.g. a TLS handshake failure) or `closed` (exit 5, connection closed before CONNACK).
"""
import argparse
import ssl
import sys
import threading

import paho.mqtt.client as mqtt

parser = argparse.ArgumentParser()
parser.add_argument("--host", default="127.0.0.1")
parser.add_argument("--port", type=int, default=1883)
parser.add_argument("--transport", choices=["tcp", "websockets", "unix"], default="tcp")
parser.add_argument("--path", default="/mqtt")
parser.add_argument("--cafile")
parser.add_argument("--cert")
parser.add_argument("--key")
parser.add_argument("--tls-max", choices=["1.2", "1.3"])
parser.add_argument("--username")
parser.add_argument("--password")
parser.add_argument("--version", choices=["311", "5"], default="311")
parser.add_argument("--client-id", default="")
parser.add_argument("--topic", required=True)
parser.add_argument("--message", required=True)
args = parser.parse_args()

protocol = mqtt.MQTTv5 if args.version == "5" else mqtt.MQTTv311
client = mqtt.Client(
    mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id, protocol=protocol, transport=args.transport
)
if args.transport == "websockets":
    client.ws_set_options(path=args.path)
if args.cafile:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(args.cafile)
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    if args.tls_max == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    client.tls_set_context(ctx)
if args.username is not None:
    client.username_pw_set(args.username, args.password)

done = threading.Event()
outcome = {"code": 3, "text": "timeout"}


def finish(code, text):
    if not done.is_set():
        outcome["code"], outcome["text"] = code, text
        done.set()


connected = threading.Event()


def on_connect(client, userdata, flags, reason_code, properties):
    if reason_code.is_failure:
        finish(2, f"refused {reason_code.value}")
        return
    connected.set()
    client.subscribe(args.topic, qos=1)


def on_subscribe(client, userdata, mid, reason_codes, properties):
    if any(rc.is_failure for rc in reason_codes):
        finish(6, "subscription refused")
        return
    client.publish(args.topic, args.message, qos=1)


def on_message(client, userdata, message):
    finish(0, f"received {message.topic} {message.payload.decode()}")


def on_disconnect(client, userdata, flags, reason_code, properties):
    if not connected.is_set():
        finish(5, "closed")


client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
client.on_disconnect = on_disconnect
try:
    client.connect(args.host, args.port, keepalive=30)
except Exception as e:  # TLS and socket errors surface here
    print(f"error: {e}")
    sys.exit(4)
client.loop_start()
done.wait(10)
client.disconnect()
client.loop_stop()
print(outcome["text"])
sys.exit(outcome["code"])
