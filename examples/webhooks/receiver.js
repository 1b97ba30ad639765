// A relaybox webhook receiver: Node.js, no dependencies.
//
//     WEBHOOK_SECRET=whsec_... PORT=8000 node receiver.js
//
// Checks `Signature` on every request and, when the endpoint has `standardWebhooks` on, the
// `webhook-signature` too (with its 300-second replay window). Prints "event_type event_id" and
// answers 204 to authentic events, 401 to anything else.
"use strict";
const crypto = require("node:crypto");
const http = require("node:http");

const SECRET = process.env.WEBHOOK_SECRET; // whsec_..., shown once when the endpoint was made
if (!SECRET) throw new Error("set WEBHOOK_SECRET to the endpoint's secret (whsec_...)");
const KEY = Buffer.from(SECRET.replace(/^whsec_/, ""), "base64"); // the Standard Webhooks key
const PORT = Number(process.env.PORT || 8000);
const HOST = process.env.HOST || "127.0.0.1";
const TOLERANCE = 300; // seconds webhook-timestamp may be off

function same(a, b) {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y); // constant time
}

function authentic(body, headers) {
  // Signature: v1=<hex HMAC-SHA256 of the raw body>, keyed with the whole secret text.
  const hex = crypto.createHmac("sha256", SECRET).update(body).digest("hex");
  if (!same("v1=" + hex, headers["signature"] || "")) return false;
  const standard = headers["webhook-signature"];
  if (standard === undefined) return true;
  // Standard Webhooks: HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}" keyed with KEY.
  const id = headers["webhook-id"] || "";
  const timestamp = headers["webhook-timestamp"] || "";
  if (!/^[0-9]+$/.test(timestamp) || Math.abs(Date.now() / 1000 - Number(timestamp)) > TOLERANCE) return false;
  const mac = crypto.createHmac("sha256", KEY).update(`${id}.${timestamp}.`).update(body).digest("base64");
  return standard.split(" ").some((entry) => same("v1," + mac, entry));
}

http
  .createServer((req, res) => {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks); // the raw bytes
      if (req.method !== "POST" || !authentic(body, req.headers)) {
        res.writeHead(401).end();
        return;
      }
      const event = JSON.parse(body);
      // Deliveries are at-least-once: skip an event_id you have already handled.
      console.log(`${event.event_type} ${event.event_id}`);
      res.writeHead(204).end();
    });
  })
  .listen(PORT, HOST, () => console.error(`listening on http://${HOST}:${PORT}/`));
