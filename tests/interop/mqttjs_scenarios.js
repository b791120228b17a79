#!/usr/bin/env node
// Interop scenarios for MQTT.js against an MQTT broker on 127.0.0.1.
//
// Usage: node mqttjs_scenarios.js --port PORT --protocol 4|5 SCENARIO
//
// Scenarios: pubsub_wildcards, qos, retained, will, persistent (and will_client, the helper that the will
// scenario starts and kills). Each prints "ok SCENARIO" and exits 0 when the broker behaved, or explains
// what went wrong and exits 1. Run by crates/broker/tests/interop_mqttjs.rs.
'use strict';

const { spawn } = require('child_process');
const readline = require('readline');
const mqtt = require('mqtt');

const TIMEOUT = 10000;
const QUIET = 500;

function fail(message) {
  console.log(`FAIL: ${message}`);
  process.exit(1);
}

function parseArgs() {
  const argv = process.argv.slice(2);
  const args = { port: 0, protocol: 0, topic: null, scenario: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--port') args.port = Number(argv[++i]);
    else if (argv[i] === '--protocol') args.protocol = Number(argv[++i]);
    else if (argv[i] === '--topic') args.topic = argv[++i];
    else args.scenario = argv[i];
  }
  if (!args.port || ![4, 5].includes(args.protocol) || !args.scenario) {
    fail('usage: mqttjs_scenarios.js --port PORT --protocol 4|5 SCENARIO');
  }
  return args;
}

/** A connected MQTT.js client whose messages are queued for `expect`. */
class Client {
  constructor(client, connack) {
    this.client = client;
    this.connack = connack;
    this.queue = [];
    this.waiters = [];
    client.on('message', (topic, payload, packet) => {
      const message = { topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain };
      const waiter = this.waiters.shift();
      if (waiter) waiter(message);
      else this.queue.push(message);
    });
  }

  static connect(args, clientId, options = {}) {
    const client = mqtt.connect(`mqtt://127.0.0.1:${args.port}`, {
      protocolVersion: args.protocol,
      clientId,
      clean: options.clean !== false,
      reconnectPeriod: 0,
      connectTimeout: TIMEOUT,
      keepalive: 30,
      will: options.will,
      properties: options.sessionExpiry ? { sessionExpiryInterval: options.sessionExpiry } : undefined,
    });
    return new Promise((resolve) => {
      const timer = setTimeout(() => fail(`${clientId}: no CONNACK`), TIMEOUT);
      client.once('connect', (connack) => {
        clearTimeout(timer);
        resolve(new Client(client, connack));
      });
      client.once('error', (err) => fail(`${clientId}: ${err.message}`));
    });
  }

  async subscribe(filters) {
    const granted = await this.client.subscribeAsync(filters);
    return granted.map((g) => g.qos);
  }

  publish(topic, payload, qos = 0, retain = false) {
    return this.client.publishAsync(topic, payload, { qos, retain });
  }

  expect(what) {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    return new Promise((resolve) => {
      const timer = setTimeout(() => fail(`no message: expected ${what}`), TIMEOUT);
      this.waiters.push((message) => {
        clearTimeout(timer);
        resolve(message);
      });
    });
  }

  async expectNothing() {
    await new Promise((resolve) => setTimeout(resolve, QUIET));
    if (this.queue.length > 0) fail(`unexpected message: ${JSON.stringify(this.queue[0])}`);
  }

  close() {
    return this.client.endAsync();
  }
}

async function pubsubWildcards(args, tag) {
  const sub = await Client.connect(args, `js-wild-sub-${tag}`);
  await sub.subscribe({ [`js/${tag}/+/temp`]: { qos: 0 }, [`js/${tag}/house/#`]: { qos: 0 } });
  const pub = await Client.connect(args, `js-wild-pub-${tag}`);
  const sent = [`js/${tag}/kitchen/temp`, `js/${tag}/house/hall/light`, `js/${tag}/house`, `js/${tag}/kitchen/hum`];
  for (const topic of sent) await pub.publish(topic, `to ${topic}`);
  const got = [];
  for (let i = 0; i < 3; i++) got.push((await sub.expect(sent[i])).topic);
  if (JSON.stringify(got.sort()) !== JSON.stringify(sent.slice(0, 3).sort())) fail(`received ${got}`);
  await sub.expectNothing();
  await sub.close();
  await pub.close();
}

async function qos(args, tag) {
  const sub = await Client.connect(args, `js-qos-sub-${tag}`);
  const granted = await sub.subscribe({ [`js/${tag}/qos`]: { qos: 2 } });
  if (JSON.stringify(granted) !== '[2]') fail(`granted ${granted}`);
  const pub = await Client.connect(args, `js-qos-pub-${tag}`);
  for (const q of [0, 1, 2]) await pub.publish(`js/${tag}/qos`, `qos ${q}`, q);
  const got = [];
  for (let i = 0; i < 3; i++) {
    const m = await sub.expect(`message ${i} of 3`);
    got.push(`${m.payload}@${m.qos}`);
  }
  if (JSON.stringify(got.sort()) !== JSON.stringify(['qos 0@0', 'qos 1@1', 'qos 2@2'])) fail(`got ${got}`);
  await sub.expectNothing();
  await sub.close();
  await pub.close();
}

async function retained(args, tag) {
  const topic = `js/${tag}/retained`;
  const pub = await Client.connect(args, `js-ret-pub-${tag}`);
  await pub.publish(topic, 'first', 1, true);
  await pub.publish(topic, 'latest', 1, true);
  const sub = await Client.connect(args, `js-ret-sub-${tag}`);
  await sub.subscribe({ [`js/${tag}/#`]: { qos: 1 } });
  const m = await sub.expect('the retained message');
  if (m.payload !== 'latest' || !m.retain || m.qos !== 1) fail(`retained: ${JSON.stringify(m)}`);
  await sub.expectNothing();
  await pub.publish(topic, 'live', 1);
  const live = await sub.expect('the live message');
  if (live.payload !== 'live' || live.retain) fail(`live: ${JSON.stringify(live)}`);
  await pub.publish(topic, '', 1, true);
  await sub.expect('the clearing message');
  const late = await Client.connect(args, `js-ret-late-${tag}`);
  await late.subscribe({ [`js/${tag}/#`]: { qos: 1 } });
  await late.expectNothing();
  await Promise.all([pub.close(), sub.close(), late.close()]);
}

async function will(args, tag) {
  const topic = `js/${tag}/will`;
  const watcher = await Client.connect(args, `js-will-watch-${tag}`);
  await watcher.subscribe({ [topic]: { qos: 1 } });
  const child = spawn(process.execPath, [__filename, '--port', String(args.port), '--protocol', String(args.protocol), '--topic', topic, 'will_client'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise((resolve) => {
    const timer = setTimeout(() => fail('will client did not connect'), TIMEOUT);
    readline.createInterface({ input: child.stdout }).once('line', (l) => {
      clearTimeout(timer);
      resolve(l.trim());
    });
  });
  if (line !== 'connected') fail(`will client said ${line}`);
  await watcher.expectNothing();
  child.kill('SIGKILL'); // no DISCONNECT
  const m = await watcher.expect('the will of the killed client');
  if (m.topic !== topic || m.payload !== 'died' || m.qos !== 1 || m.retain) fail(`will: ${JSON.stringify(m)}`);
  await watcher.close();
}

async function willClient(args) {
  await Client.connect(args, `js-will-client-${args.protocol}`, {
    will: { topic: args.topic, payload: Buffer.from('died'), qos: 1, retain: false },
  });
  console.log('connected');
  setInterval(() => {}, 1000);
}

async function persistent(args, tag) {
  const topic = `js/${tag}/persistent`;
  const clientId = `js-persist-${tag}`;
  const options = { clean: false, sessionExpiry: 300 };
  let sub = await Client.connect(args, clientId, options);
  await sub.subscribe({ [topic]: { qos: 2 } });
  await sub.close();
  const pub = await Client.connect(args, `js-persist-pub-${tag}`);
  const qoses = [1, 2, 1, 0];
  for (let i = 0; i < qoses.length; i++) await pub.publish(topic, `offline ${i}`, qoses[i]);
  await pub.close();
  sub = await Client.connect(args, clientId, options);
  if (!sub.connack.sessionPresent) fail('session present is 0 when resuming the persistent session');
  const got = [];
  for (let i = 0; i < 3; i++) got.push((await sub.expect(`queued message ${i}`)).payload);
  // (Ordering is per QoS [MQTT-4.6.0-6].)
  if (JSON.stringify(got.sort()) !== JSON.stringify(['offline 0', 'offline 1', 'offline 2'])) fail(`queued: ${got}`);
  await sub.expectNothing(); // the QoS 0 message is not queued
  await sub.close();
}

const SCENARIOS = {
  pubsub_wildcards: pubsubWildcards,
  qos,
  retained,
  will,
  will_client: willClient,
  persistent,
};

async function main() {
  const args = parseArgs();
  const scenario = SCENARIOS[args.scenario];
  if (!scenario) fail(`unknown scenario ${args.scenario}`);
  await scenario(args, `v${args.protocol}`);
  if (args.scenario !== 'will_client') {
    console.log(`ok ${args.scenario}`);
    process.exit(0);
  }
}

main().catch((err) => fail(err.stack || String(err)));
