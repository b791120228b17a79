#!/usr/bin/env node
// MQTT.js 5 enhanced authentication against an MQTT broker on 127.0.0.1: SCRAM-SHA-512 (RFC 5802) in
// CONNECT and AUTH packets, then a re-authentication (AUTH 0x19) on the live connection, then a wrong
// password that must be refused.
//
// Usage: node mqttjs_scram.js --port PORT --user USER --password PASSWORD
//
// Prints "ok scram connect", "ok scram reauth" and "ok scram refused CODE", exits 0; or explains what went
// wrong and exits 1. Run by crates/broker/tests/enhanced_auth.rs.
'use strict';

const crypto = require('crypto');
const mqtt = require('mqtt');

const METHOD = 'SCRAM-SHA-512';
const TIMEOUT = 10000;

function fail(message) {
  console.log(`FAIL: ${message}`);
  process.exit(1);
}

function parseArgs() {
  const argv = process.argv.slice(2);
  const args = {};
  for (let i = 0; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!args.port || !args.user || args.password === undefined) fail('usage: --port PORT --user USER --password PW');
  return args;
}

const hmac = (key, data) => crypto.createHmac('sha512', key).update(data).digest();
const sha512 = (data) => crypto.createHash('sha512').update(data).digest();

/** The client side of one SCRAM-SHA-512 exchange. */
class Scram {
  constructor(user, password) {
    this.password = password;
    this.nonce = crypto.randomBytes(18).toString('base64');
    this.bare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${this.nonce}`;
  }

  first() {
    return Buffer.from(`n,,${this.bare}`);
  }

  final(serverFirst) {
    const text = serverFirst.toString();
    const attrs = Object.fromEntries(text.split(',').map((a) => [a[0], a.slice(2)]));
    if (!attrs.r.startsWith(this.nonce)) fail(`server nonce ${attrs.r} does not extend ours`);
    const salted = crypto.pbkdf2Sync(this.password, Buffer.from(attrs.s, 'base64'), Number(attrs.i), 64, 'sha512');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = sha512(clientKey);
    const withoutProof = `c=biws,r=${attrs.r}`;
    const authMessage = `${this.bare},${text},${withoutProof}`;
    const signature = hmac(storedKey, authMessage);
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]));
    this.serverSignature = hmac(hmac(salted, 'Server Key'), authMessage).toString('base64');
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }

  verify(serverFinal) {
    return serverFinal !== undefined && serverFinal.toString() === `v=${this.serverSignature}`;
  }
}

function authPacket(reasonCode, data) {
  return { cmd: 'auth', reasonCode, properties: { authenticationMethod: METHOD, authenticationData: data } };
}

/** Connects with SCRAM; resolves with [client, connack, scram] or rejects with the refusal. */
function connect(args, password) {
  let scram = new Scram(args.user, password);
  const client = mqtt.connect({
    host: '127.0.0.1',
    port: Number(args.port),
    protocolVersion: 5,
    clientId: `mqttjs-scram-${process.pid}-${Math.random().toString(16).slice(2, 8)}`,
    reconnectPeriod: 0,
    connectTimeout: TIMEOUT,
    properties: { authenticationMethod: METHOD, authenticationData: scram.first() },
  });
  // Server AUTH packets, during CONNECT and during re-authentication.
  client.handleAuth = (packet, callback) => {
    if (packet.reasonCode === 24) {
      callback(null, authPacket(24, scram.final(packet.properties.authenticationData)));
    } else {
      if (!scram.verify(packet.properties.authenticationData)) fail('AUTH 0x00 without a valid server signature');
      client.emit('reauthenticated');
      callback();
    }
  };
  client.restart = (pw) => {
    scram = new Scram(args.user, pw);
    return scram;
  };
  return new Promise((resolve, reject) => {
    client.once('connect', (connack) => resolve([client, connack, scram]));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

async function main() {
  const args = parseArgs();
  const timer = setTimeout(() => fail('timed out'), 4 * TIMEOUT);

  const [client, connack, scram] = await connect(args, args.password);
  if (connack.properties?.authenticationMethod !== METHOD) fail(`CONNACK method ${connack.properties?.authenticationMethod}`);
  if (!scram.verify(connack.properties?.authenticationData)) fail('CONNACK without a valid server signature');
  console.log('ok scram connect');

  const done = new Promise((resolve) => client.once('reauthenticated', resolve));
  const again = client.restart(args.password);
  client['_sendPacket'](authPacket(25, again.first()));
  await done;
  // Still usable after re-authentication.
  await new Promise((resolve, reject) =>
    client.publish('mqttjs/scram', 'x', { qos: 1 }, (err) => (err ? reject(err) : resolve())),
  );
  console.log('ok scram reauth');
  client.end();

  try {
    await connect(args, `${args.password}-wrong`);
    fail('a wrong password was accepted');
  } catch (err) {
    console.log(`ok scram refused ${err.code}`);
  }
  clearTimeout(timer);
  process.exit(0);
}

main().catch((err) => fail(err.stack || String(err)));
