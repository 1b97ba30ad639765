#!/usr/bin/env bash
# relaybox route API (/1) from bash: curl and openssl, nothing else (GNU date for the fraction).
#
#   export RELAYBOX_URL=http://127.0.0.1:8080 ROUTE=abcd@abcdef01 KEY_SECRET=...
#   route_api.sh send TO FILE [MESSAGE_ID]   send FILE to the route TO; prints the message link
#   route_api.sh list                        the mailbox, as JSON
#   route_api.sh get LINK > FILE             one message's bytes, to stdout
#
# A failure prints the answer's `error: code=NNN; message=...` header and exits 1.
set -euo pipefail
: "${RELAYBOX_URL:?}" "${ROUTE:?}" "${KEY_SECRET:?}"
hdr=$(mktemp)
trap 'rm -f "$hdr"' EXIT

# signed_curl SIGNED CURL_ARGS...: a /1 request with
#   request-key = hex(sha512(TIMESTAMP + ROUTE + SIGNED + KEY_SECRET))
# SIGNED is empty for the receive calls, MESSAGE_TO + MESSAGE_ID + MESSAGE_MD5 for send-message.
signed_curl() {
  local signed=$1 ts key
  shift
  # A fraction in the timestamp: a key is accepted once, and two calls may share a second.
  ts=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
  key=$(printf %s "$ts$ROUTE$signed$KEY_SECRET" | openssl dgst -sha512 | awk '{print $NF}')
  curl -sS -D "$hdr" -H "request-timestamp: $ts" -H "request-from: $ROUTE" -H "request-key: $key" "$@"
  grep -q '^HTTP/[0-9.]* 200' "$hdr" && return
  { grep -i '^error:' "$hdr" || head -n1 "$hdr"; } | tr -d '\r' >&2 # a failure's body is empty
  exit 1
}

case "${1:-}" in
send)
  [ $# -ge 3 ] || { echo "usage: $0 send TO FILE [MESSAGE_ID]" >&2; exit 2; }
  to=$2 file=$3
  id=${4:-$(openssl rand -hex 8)} # sending the same id and bytes again is delivered once
  md5=$(openssl dgst -md5 <"$file" | awk '{print $NF}')
  signed_curl "$to$id$md5" -o /dev/null "$RELAYBOX_URL/1/send-message" -F "data=@$file" \
    -H "message-to: $to" -H "message-id: $id" -H "message-md5: $md5"
  grep -i '^message-link:' "$hdr" | cut -d' ' -f2 | tr -d '\r'
  ;;
list)
  signed_curl "" "$RELAYBOX_URL/1/list-messages"
  echo
  ;;
get)
  [ $# -eq 2 ] || { echo "usage: $0 get LINK" >&2; exit 2; }
  signed_curl "" "$RELAYBOX_URL/1/get-message/$2" # links are URL-safe: no quoting needed
  ;;
*)
  echo "usage: $0 send TO FILE [MESSAGE_ID] | list | get LINK" >&2
  exit 2
  ;;
esac
