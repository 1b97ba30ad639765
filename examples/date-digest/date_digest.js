#!/usr/bin/env node
// relaybox /v1 with Date+digest signatures (the goTom seed's scheme) from Node.js 18+: no dependencies.
//
//   export RELAYBOX_URL=http://127.0.0.1:8080 PUBLIC_KEY=rbk_... PRIVATE_KEY=rbs_...
//   node date_digest.js GET /v1/station
//   node date_digest.js GET '/v1/message/received?pageLength=5&pageOffset=0'
//   echo '{"email_address": "bob@example.com"}' | node date_digest.js POST /v1/contacts.json/1/contacts/
//
// Methods other than GET and DELETE send stdin as the body. Prints the answer's body; an HTTP
// error prints the problem+json answer and exits 1.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");

const { RELAYBOX_URL, PUBLIC_KEY, PRIVATE_KEY } = process.env;
if (!RELAYBOX_URL || !PUBLIC_KEY || !PRIVATE_KEY) throw new Error("set RELAYBOX_URL, PUBLIC_KEY and PRIVATE_KEY");
const provider = "relaybox_api"; // HMAC-SHA256 (the seed's word gotom_app_api means HMAC-SHA1)

async function call(method, url, content) {
  // URI: path and query exactly as on the request line (nothing sorted), as the seed takes it.
  const parsed = new URL(url);
  const uri = parsed.pathname + parsed.search;
  // Keep the milliseconds the seed strips (2026-11-25T17:02:03.123Z): two requests may share a second.
  const date = new Date().toISOString();
  const contentHash = crypto.createHash("md5").update(content).digest("hex"); // over the body's bytes
  const contentType = "application/json";
  const customHeaders = ""; // Message-* headers as name:value lines, sorted: none here
  // D = METHOD \n MD5 \n CONTENT_TYPE \n DATE \n CUSTOM \n URI
  const digestParts = `${method}\n${contentHash}\n${contentType.toLowerCase()}\n${date}\n${customHeaders}\n${uri}`;
  const signature = crypto.createHmac("sha256", PRIVATE_KEY).update(digestParts).digest("base64");
  const headers = { Authorization: `${provider} ${PUBLIC_KEY}:${signature}`, "Content-Type": contentType, Date: date };
  const answer = await fetch(parsed, { method, headers, body: content.length ? content : undefined });
  const text = await answer.text();
  if (!answer.ok) {
    console.error(`HTTP ${answer.status}: ${text}`);
    process.exit(1);
  }
  console.log(text);
}

if (process.argv.length !== 4) {
  console.error("usage: date_digest.js METHOD PATH  (a body on stdin for POST and PUT)");
  process.exit(2);
}
const method = process.argv[2].toUpperCase();
const content = ["GET", "DELETE"].includes(method) ? Buffer.alloc(0) : fs.readFileSync(0); // stdin, as it is
call(method, RELAYBOX_URL + process.argv[3], content);
