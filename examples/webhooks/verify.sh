#!/usr/bin/env bash
# Check the Signature header of a relaybox webhook with openssl.
#
#   verify.sh SECRET BODY_FILE SIGNATURE_HEADER    exit 0: authentic, 1: not, 2: usage
#   verify.sh "" body.json "v1=53e2..."             an empty SECRET is read from $WEBHOOK_SECRET
#
# BODY_FILE holds the request body exactly as received (no added newline).
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: verify.sh SECRET BODY_FILE SIGNATURE_HEADER" >&2; exit 2; }
secret=${1:-${WEBHOOK_SECRET:-}}
[ -n "$secret" ] || { echo "verify.sh: give SECRET or set WEBHOOK_SECRET" >&2; exit 2; }

# v1=<hex HMAC-SHA256 of the body>, keyed with the whole secret text (whsec_ included).
expected="v1=$(openssl dgst -sha256 -hmac "$secret" <"$2" | awk '{print $NF}')"

# Compare digests of the two values, not the values: the time the comparison takes then
# tells an attacker nothing about how much of a forged signature was right.
digest() { printf %s "$1" | openssl dgst -sha256 | awk '{print $NF}'; }
[ "$(digest "$expected")" = "$(digest "$3")" ]
