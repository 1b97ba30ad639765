#!/usr/bin/env node
// relaybox /v1 with RCWS signatures (the Migomail seed's scheme) from Node.js 18+: no dependencies.
//
//   export RELAYBOX_URL=http://127.0.0.1:8080 PUBLIC_KEY=rbk_... PRIVATE_KEY=rbs_...
//   node rcws.js station                            GET  /v1/station: the account's stations
//   node rcws.js lists                              GET  /v1/lists.json: {"id":"name",...}
//   node rcws.js add-list NAME                      POST /v1/lists/NAME: answers the list's "id"
//   node rcws.js add-contact LIST NAME EMAIL ROUTE  POST /v1/contacts.json/LIST/contacts/
//   node rcws.js contacts LIST                      GET  /v1/contacts.json/LIST/contacts/?...
//
// Prints the answer's body; an HTTP error prints the problem+json answer and exits 1.
"use strict";
const crypto = require("node:crypto");

const { RELAYBOX_URL, PUBLIC_KEY, PRIVATE_KEY } = process.env;
if (!RELAYBOX_URL || !PUBLIC_KEY || !PRIVATE_KEY) throw new Error("set RELAYBOX_URL, PUBLIC_KEY and PRIVATE_KEY");
const NO_DATA = '{"posted_data":"[]"}'; // what a request without a body is signed with (the seed's stand-in)
const SEED_FIELDS = "name first_name last_name email_address company phone address city state zip_code country dob";

// RCWS signs JSON in one canonical form: keys sorted at every depth, no spaces, non-ASCII as
// \uXXXX ("/" stays). Sending that very text makes the signed and the sent body the same.
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    return `{${Object.keys(value).sort().map((k) => `${canonical(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  const ascii = (c) => "\\u" + c.charCodeAt(0).toString(16).padStart(4, "0");
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, ascii);
}

// Authorization: RCWS PUBLIC_KEY:hex(HMAC-SHA256(PRIVATE_KEY, S)), with
// S = lower(METHOD + "::" + PATH ["?" + sorted QUERY] + "::" + JSON + "::" + TIMESTAMP)
async function rcws(method, path, query = "", doc = undefined) {
  const body = doc === undefined ? undefined : canonical(doc);
  // The query is signed with its items sorted (pagesize=100&offset=0 as offset=0&pagesize=100)
  // and sent as it is.
  const sorted = query.split("&").filter(Boolean).sort().join("&");
  const stamp = new Date().toISOString(); // with request-timestamp a signature is accepted once
  const s = `${method}::${path}${sorted ? "?" + sorted : ""}::${body ?? NO_DATA}::${stamp}`;
  // S is pure ASCII here (the path is percent-encoded, the JSON escaped), so toLowerCase() is
  // the ASCII-only lower() the scheme means.
  const signature = crypto.createHmac("sha256", PRIVATE_KEY).update(s.toLowerCase()).digest("hex");
  const headers = {
    Authorization: `RCWS ${PUBLIC_KEY}:${signature}`,
    "request-timestamp": stamp,
    "Content-Type": "application/json; charset=UTF-8",
  };
  const answer = await fetch(RELAYBOX_URL + path + (query ? "?" + query : ""), { method, headers, body });
  const text = await answer.text();
  if (!answer.ok) {
    console.error(`HTTP ${answer.status}: ${text}`);
    process.exit(1);
  }
  return text;
}

async function main([command, ...args]) {
  if (command === "station") return rcws("GET", "/v1/station");
  if (command === "lists") return rcws("GET", "/v1/lists.json");
  // The name is part of the path: encoded, and signed exactly as sent.
  if (command === "add-list" && args.length === 1) return rcws("POST", "/v1/lists/" + encodeURIComponent(args[0]));
  if (command === "add-contact" && args.length === 4) {
    const [list, name, email, route] = args;
    const contact = Object.fromEntries(SEED_FIELDS.split(" ").map((field) => [field, ""]));
    Object.assign(contact, { name, email_address: email, route });
    return rcws("POST", `/v1/contacts.json/${list}/contacts/`, "", contact);
  }
  if (command === "contacts" && args.length === 1) {
    return rcws("GET", `/v1/contacts.json/${args[0]}/contacts/`, "pagesize=100&offset=0");
  }
  console.error("usage: rcws.js station | lists | add-list NAME | add-contact LIST NAME EMAIL ROUTE | contacts LIST");
  process.exit(2);
}

main(process.argv.slice(2)).then((text) => console.log(text));
