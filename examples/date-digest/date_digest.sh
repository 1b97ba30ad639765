#!/usr/bin/env bash
# relaybox /v1 with Date+digest signatures (the goTom seed's scheme) from bash: curl and openssl.
#
#   export RELAYBOX_URL=http://127.0.0.1:8080 PUBLIC_KEY=rbk_... PRIVATE_KEY=rbs_...
#   date_digest.sh GET /v1/station
#   date_digest.sh GET '/v1/message/received?pageLength=5&pageOffset=0'
#   echo '{"email_address": "bob@example.com"}' | date_digest.sh POST /v1/contacts.json/1/contacts/
#
# Methods other than GET and DELETE send stdin as the body. Prints the answer's body; on an HTTP
# error curl prints the problem+json answer and exits 22.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 METHOD PATH  (a body on stdin for POST and PUT)" >&2; exit 2; }
: "${RELAYBOX_URL:?}" "${PUBLIC_KEY:?}" "${PRIVATE_KEY:?}"

method=${1^^}
uri=$2                # path and query exactly as sent: nothing is sorted in this scheme
provider=relaybox_api # HMAC-SHA256 (the seed's word gotom_app_api means HMAC-SHA1)
# ISO 8601 with the local offset, as the seed's script; the fraction lets two requests share a second.
date=$(date +"%FT%T.%N%:z")
content=""
case $method in GET | DELETE) ;; *) content=$(cat) ;; esac # $(cat) drops trailing newlines: signed and sent alike
contentHash=$(printf %s "$content" | openssl dgst -md5 | awk '{print $NF}')
contentType='application/json' # signed in lower case
customHeaders=''               # Message-* headers as name:value lines, sorted: none here

# D = METHOD \n MD5 \n CONTENT_TYPE \n DATE \n CUSTOM \n URI; signature = base64(HMAC-SHA256(PRIVATE_KEY, D))
signature=$(printf '%s\n%s\n%s\n%s\n%s\n%s' "$method" "$contentHash" "${contentType,,}" "$date" "$customHeaders" "$uri" |
  openssl dgst -sha256 -hmac "$PRIVATE_KEY" -binary | openssl base64 -A)

data=()
[ -z "$content" ] || data=(--data-binary "$content")
curl -sS --fail-with-body -X "$method" "$RELAYBOX_URL$uri" "${data[@]}" \
  -H "Authorization: $provider $PUBLIC_KEY:$signature" -H "Content-Type: $contentType" -H "Date: $date"
echo
