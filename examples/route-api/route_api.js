#!/usr/bin/env node
// relaybox route API (/1) from Node.js 18+ (fetch, FormData, Blob): no dependencies.
//
//   export RELAYBOX_URL=http://127.0.0.1:8080 ROUTE=abcd@abcdef01 KEY_SECRET=...
//   node route_api.js send TO FILE [MESSAGE_ID]   send FILE to the route TO; prints the message link
//   node route_api.js list                        the mailbox, as JSON
//   node route_api.js get LINK > FILE             one message's bytes, to stdout
//
// A failure prints the answer's `error: code=NNN; message=...` header and exits 1.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const { RELAYBOX_URL, ROUTE, KEY_SECRET } = process.env;
if (!RELAYBOX_URL || !ROUTE || !KEY_SECRET) throw new Error("set RELAYBOX_URL, ROUTE and KEY_SECRET");
const hex = (algorithm, data) => crypto.createHash(algorithm).update(data).digest("hex");

// A /1 request with request-key = hex(sha512(TIMESTAMP + ROUTE + signed + KEY_SECRET)); signed is
// "" for the receive calls, MESSAGE_TO + MESSAGE_ID + MESSAGE_MD5 for send-message.
async function call(urlPath, signed = "", init = {}) {
  // 2026-11-25T17:02:03.123Z: keep the fraction, a key is accepted once and calls may share a second.
  const stamp = new Date().toISOString();
  const auth = {
    "request-timestamp": stamp,
    "request-from": ROUTE,
    "request-key": hex("sha512", stamp + ROUTE + signed + KEY_SECRET),
  };
  const answer = await fetch(RELAYBOX_URL + urlPath, { ...init, headers: { ...init.headers, ...auth } });
  if (!answer.ok) {
    console.error(`HTTP ${answer.status}: ${answer.headers.get("error")}`); // a failure's body is empty
    process.exit(1);
  }
  return answer;
}

async function send(to, file, messageId = crypto.randomBytes(8).toString("hex")) {
  const data = fs.readFileSync(file);
  const md5 = hex("md5", data);
  const form = new FormData(); // multipart/form-data with the file in the part `data`
  form.append("data", new Blob([data]), path.basename(file));
  const headers = { "message-to": to, "message-id": messageId, "message-md5": md5 };
  const answer = await call("/1/send-message", to + messageId + md5, { method: "POST", body: form, headers });
  console.log(answer.headers.get("message-link")); // the same id and bytes again: delivered once
}

async function main([command, ...args]) {
  if (command === "send" && args.length >= 2) return send(...args);
  if (command === "list") return console.log(await (await call("/1/list-messages")).text());
  if (command === "get" && args.length === 1) {
    const answer = await call(`/1/get-message/${args[0]}`); // links are URL-safe: no quoting needed
    return process.stdout.write(Buffer.from(await answer.arrayBuffer()));
  }
  console.error("usage: route_api.js send TO FILE [MESSAGE_ID] | list | get LINK");
  process.exit(2);
}

main(process.argv.slice(2));
