<?php
// relaybox /v1 with Date+digest signatures (the goTom seed's scheme) from PHP 7.4+, default extensions.
//
//   export RELAYBOX_URL=http://127.0.0.1:8080 PUBLIC_KEY=rbk_... PRIVATE_KEY=rbs_...
//   php date_digest.php GET /v1/station
//   php date_digest.php GET '/v1/message/received?pageLength=5&pageOffset=0'
//   echo '{"email_address": "bob@example.com"}' | php date_digest.php POST /v1/contacts.json/1/contacts/
//
// Methods other than GET and DELETE send stdin as the body. Prints the answer's body; an HTTP
// error prints the problem+json answer and exits 1.

if ($argc !== 3) {
    fwrite(STDERR, "usage: date_digest.php METHOD PATH  (a body on stdin for POST and PUT)\n");
    exit(2);
}
$provider = 'relaybox_api'; // HMAC-SHA256 (the seed's word gotom_app_api means HMAC-SHA1)
$user = getenv('PUBLIC_KEY');
$secret = getenv('PRIVATE_KEY');

$method = strtoupper($argv[1]);
$uri = $argv[2]; // path and query exactly as sent: nothing is sorted in this scheme
// format('c') as the seed, plus microseconds: two requests may share a second.
$date = (new DateTime())->format('Y-m-d\TH:i:s.uP');
$content = in_array($method, ['GET', 'DELETE'], true) ? '' : file_get_contents('php://stdin'); // the bytes, as they are
$contentType = 'application/json';
$customHeaders = ''; // Message-* headers as name:value lines, sorted: none here

// D = METHOD \n MD5 \n CONTENT_TYPE \n DATE \n CUSTOM \n URI; signature = base64(HMAC-SHA256(secret, D))
$digestParts = [$method, md5($content), strtolower($contentType), $date, $customHeaders, $uri];
$signature = base64_encode(hash_hmac('sha256', implode("\n", $digestParts), $secret, true));

$http = [
    'method' => $method,
    'header' => ["Authorization: $provider $user:$signature", "Content-Type: $contentType", "Date: $date"],
    'content' => $content,
    'ignore_errors' => true,
];
$answer = file_get_contents(getenv('RELAYBOX_URL') . $uri, false, stream_context_create(['http' => $http]));
$status = (int) explode(' ', $http_response_header[0] ?? 'HTTP/1.0 0')[1];
if ($answer === false || $status >= 400) {
    fwrite(STDERR, "HTTP $status: $answer\n");
    exit(1);
}
echo $answer, "\n";
