#!/usr/bin/env bash
# relaybox /v1 with RCWS signatures (the Migomail seed's scheme) from bash: curl and openssl.
#
#   export RELAYBOX_URL=http://127.0.0.1:8080 PUBLIC_KEY=rbk_... PRIVATE_KEY=rbs_...
#   rcws.sh station                          GET  /v1/station           the account's stations
#   rcws.sh lists                            GET  /v1/lists.json        {"id":"name",...}
#   rcws.sh add-list NAME                    POST /v1/lists/NAME        answers the list's "id"
#   rcws.sh add-contact LIST NAME EMAIL ROUTE  POST /v1/contacts.json/LIST/contacts/
#   rcws.sh contacts LIST                    GET  /v1/contacts.json/LIST/contacts/?pagesize=100&offset=0
#
# Prints the answer's body; on an HTTP error curl prints the problem+json answer and exits 22.
set -euo pipefail
: "${RELAYBOX_URL:?}" "${PUBLIC_KEY:?}" "${PRIVATE_KEY:?}"

# rcws METHOD PATH [QUERY [JSON]]: Authorization: RCWS PUBLIC_KEY:hex(HMAC-SHA256(PRIVATE_KEY, S))
#   S = lower(METHOD + "::" + PATH ["?" + sorted QUERY] + "::" + JSON + "::" + TIMESTAMP)
rcws() {
  local method=$1 path=$2 query=${3:-} json=${4:-} sorted stamp s sig data=()
  # The query is signed with its items sorted as bytes (pagesize=100&offset=0 is signed as
  # offset=0&pagesize=100) and sent as it is.
  sorted=$(printf %s "$query" | tr '&' '\n' | LC_ALL=C sort | paste -sd '&' -)
  # With request-timestamp the signature covers the time and is accepted once (a fraction
  # lets two calls share a second).
  stamp=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)
  # No body is signed as {"posted_data":"[]"}, the seed's stand-in for "no data".
  empty='{"posted_data":"[]"}'
  s="$method::$path${sorted:+?$sorted}::${json:-$empty}::$stamp"
  # lower(): ASCII A-Z only, over the whole string (tr does exactly that).
  sig=$(printf %s "$s" | tr 'A-Z' 'a-z' | openssl dgst -sha256 -hmac "$PRIVATE_KEY" | awk '{print $NF}')
  [ -z "$json" ] || data=(--data-binary "$json")
  curl -sS --fail-with-body -X "$method" "$RELAYBOX_URL$path${query:+?$query}" "${data[@]}" \
    -H "Authorization: RCWS $PUBLIC_KEY:$sig" -H "request-timestamp: $stamp" \
    -H "Content-Type: application/json; charset=UTF-8"
  echo
}

case "${1:-}" in
station) rcws GET /v1/station ;;
lists) rcws GET /v1/lists.json ;;
add-list)
  # The name is part of the path: a space goes as "+"; other reserved characters (/ ? # % &)
  # would need percent-encoding. The path is signed exactly as sent.
  rcws POST "/v1/lists/${2// /+}"
  ;;
add-contact)
  [ $# -eq 5 ] || { echo "usage: $0 add-contact LIST NAME EMAIL ROUTE" >&2; exit 2; }
  # RCWS signs a JSON body in canonical form: keys sorted, no spaces, non-ASCII as \uXXXX.
  # This body is written in that form already (no jq needed), so the signed JSON is the body
  # as sent. The values go in as they are: they must not hold ", \ or non-ASCII characters.
  printf -v body '{"address":"","city":"","company":"","country":"","dob":"","email_address":"%s","first_name":"","last_name":"","name":"%s","phone":"","route":"%s","state":"","zip_code":""}' "$4" "$3" "$5"
  rcws POST "/v1/contacts.json/$2/contacts/" "" "$body"
  ;;
contacts) rcws GET "/v1/contacts.json/$2/contacts/" "pagesize=100&offset=0" ;;
*)
  echo "usage: $0 station | lists | add-list NAME | add-contact LIST NAME EMAIL ROUTE | contacts LIST" >&2
  exit 2
  ;;
esac
