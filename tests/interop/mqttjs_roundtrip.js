// Test whether a broker serves MQTT.js: connect to URL (mqtt://, mqtts://, ws://, wss://), subscribe to a
// topic, publish to it at QoS 1 and print what comes back.
//
// Usage: node mqttjs_roundtrip.js URL TOPIC MESSAGE [--ca FILE] [--cert FILE --key FILE]
//        [--username U --password P] [--version 4|5]
// Prints `received TOPIC PAYLOAD` and exits 0 on success; `error: ...` (exit 2), `timeout` (exit 3),
// `closed` (exit 5, closed before CONNACK).
const fs = require("fs");
const mqtt = require("mqtt");

const [url, topic, message, ...rest] = process.argv.slice(2);
const flags = {};
for (let i = 0; i < rest.length; i += 2) flags[rest[i].replace(/^--/, "")] = rest[i + 1];

const options = { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: Number(flags.version || 4) };
if (flags.ca) options.ca = fs.readFileSync(flags.ca);
if (flags.cert) options.cert = fs.readFileSync(flags.cert);
if (flags.key) options.key = fs.readFileSync(flags.key);
if (flags.username) options.username = flags.username;
if (flags.password) options.password = flags.password;

let connected = false;
function finish(code, text) {
  console.log(text);
  process.exit(code);
}
setTimeout(() => finish(3, "timeout"), 10000);

const client = mqtt.connect(url, options);
client.on("connect", () => {
  connected = true;
  client.subscribe(topic, { qos: 1 }, (err, granted) => {
    if (err || granted.some((g) => g.qos >= 0x80)) return finish(6, "subscription refused");
    client.publish(topic, message, { qos: 1 });
  });
});
client.on("message", (t, payload) => finish(0, `received ${t} ${payload.toString()}`));
client.on("error", (e) => finish(2, `error: ${e.message}`));
client.on("close", () => {
  if (!connected) finish(5, "closed");
});
