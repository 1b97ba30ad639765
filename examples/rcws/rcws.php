<?php
// relaybox /v1 with RCWS signatures (the Migomail seed's scheme) from PHP 7.4+, default extensions.
//
//   export RELAYBOX_URL=http://127.0.0.1:8080 PUBLIC_KEY=rbk_... PRIVATE_KEY=rbs_...
//   php rcws.php station                            GET  /v1/station: the account's stations
//   php rcws.php lists                              GET  /v1/lists.json: {"id":"name",...}
//   php rcws.php add-list NAME                      POST /v1/lists/NAME: answers the list's "id"
//   php rcws.php add-contact LIST NAME EMAIL ROUTE  POST /v1/contacts.json/LIST/contacts/
//   php rcws.php contacts LIST                      GET  /v1/contacts.json/LIST/contacts/?...
//
// Prints the answer's body; an HTTP error prints the problem+json answer and exits 1.

const NO_DATA = '{"posted_data":"[]"}'; // what a request without a body is signed with (the seed's stand-in)
const SEED_FIELDS = 'name first_name last_name email_address company phone address city state zip_code country dob';

// Authorization: RCWS PUBLIC_KEY:hex(HMAC-SHA256(PRIVATE_KEY, S)), with
// S = lower(METHOD + "::" + PATH ["?" + sorted QUERY] + "::" + JSON + "::" + TIMESTAMP)
function rcws(string $method, string $path, string $query = '', ?array $doc = null): string
{
    // JSON is signed in canonical form: keys sorted (ksort, for flat objects as here), no spaces,
    // non-ASCII as \uXXXX (json_encode's default) and "/" not escaped. Send that very text.
    if ($doc !== null) {
        ksort($doc, SORT_STRING);
    }
    $body = $doc === null ? null : json_encode($doc, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
    // The query is signed with its items sorted as bytes, and sent as it is.
    $items = array_filter(explode('&', $query), 'strlen');
    sort($items, SORT_STRING);
    $signedUrl = $path . ($items ? '?' . implode('&', $items) : '');
    // With request-timestamp the signature covers the time and is accepted once.
    $stamp = (new DateTime('now', new DateTimeZone('UTC')))->format('Y-m-d\TH:i:s.u\Z');
    $s = "$method::$signedUrl::" . ($body ?? NO_DATA) . "::$stamp";
    // S is pure ASCII (percent-encoded path, escaped JSON): strtolower() is the lower() meant.
    $signature = hash_hmac('sha256', strtolower($s), getenv('PRIVATE_KEY'));
    $http = ['method' => $method, 'ignore_errors' => true, 'header' => [
        'Authorization: RCWS ' . getenv('PUBLIC_KEY') . ":$signature",
        "request-timestamp: $stamp",
        'Content-Type: application/json; charset=UTF-8',
    ]];
    if ($body !== null) {
        $http['content'] = $body;
    }
    $url = getenv('RELAYBOX_URL') . $path . ($query === '' ? '' : "?$query");
    $answer = file_get_contents($url, false, stream_context_create(['http' => $http]));
    $status = (int) explode(' ', $http_response_header[0] ?? 'HTTP/1.0 0')[1];
    if ($answer === false || $status >= 400) {
        fwrite(STDERR, "HTTP $status: $answer\n");
        exit(1);
    }
    return $answer;
}

[$command, $args] = [$argv[1] ?? '', array_slice($argv, 2)];
if ($command === 'station') {
    echo rcws('GET', '/v1/station'), "\n";
} elseif ($command === 'lists') {
    echo rcws('GET', '/v1/lists.json'), "\n";
} elseif ($command === 'add-list' && count($args) === 1) {
    echo rcws('POST', '/v1/lists/' . urlencode($args[0])), "\n"; // "Orders 2" goes as Orders+2
} elseif ($command === 'add-contact' && count($args) === 4) {
    [$list, $name, $email, $route] = $args;
    $contact = ['name' => $name, 'email_address' => $email, 'route' => $route] + array_fill_keys(explode(' ', SEED_FIELDS), '');
    echo rcws('POST', "/v1/contacts.json/$list/contacts/", '', $contact), "\n";
} elseif ($command === 'contacts' && count($args) === 1) {
    echo rcws('GET', "/v1/contacts.json/$args[0]/contacts/", 'pagesize=100&offset=0'), "\n"; // signed as ?offset=0&pagesize=100
} else {
    fwrite(STDERR, "usage: rcws.php station | lists | add-list NAME | add-contact LIST NAME EMAIL ROUTE | contacts LIST\n");
    exit(2);
}
