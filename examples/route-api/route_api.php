<?php
// relaybox route API (/1) from PHP 7.4+ with the default extensions (no curl needed).
//
//   export RELAYBOX_URL=http://127.0.0.1:8080 ROUTE=abcd@abcdef01 KEY_SECRET=...
//   php route_api.php send TO FILE [MESSAGE_ID]   send FILE to the route TO; prints the message link
//   php route_api.php list                        the mailbox, as JSON
//   php route_api.php get LINK > FILE             one message's bytes, to stdout
//
// A failure prints the answer's `error: code=NNN; message=...` header and exits 1.

// A /1 request with request-key = hex(sha512(TIMESTAMP + ROUTE + $signed + KEY_SECRET)); $signed
// is '' for the receive calls, MESSAGE_TO + MESSAGE_ID + MESSAGE_MD5 for send-message.
// Returns [body, headers with lower-case names].
function call(string $path, string $signed = '', array $headers = [], ?string $body = null): array
{
    $route = getenv('ROUTE');
    // A fraction in the timestamp: a key is accepted once, and two calls may share a second.
    $stamp = (new DateTime('now', new DateTimeZone('UTC')))->format('Y-m-d\TH:i:s.u\Z');
    $headers[] = "request-timestamp: $stamp";
    $headers[] = "request-from: $route";
    $headers[] = 'request-key: ' . hash('sha512', $stamp . $route . $signed . getenv('KEY_SECRET'));
    $http = ['method' => $body === null ? 'GET' : 'POST', 'header' => $headers, 'ignore_errors' => true];
    if ($body !== null) {
        $http['content'] = $body;
    }
    $answer = file_get_contents(getenv('RELAYBOX_URL') . $path, false, stream_context_create(['http' => $http]));
    $got = [];
    foreach (array_slice($http_response_header ?? [], 1) as $line) {
        [$name, $value] = array_map('trim', explode(':', $line, 2)) + [1 => ''];
        $got[strtolower($name)] = $value;
    }
    $status = explode(' ', $http_response_header[0] ?? 'HTTP/1.0 000')[1];
    if ($answer === false || $status !== '200') { // a failure's body is empty: the reason is a header
        fwrite(STDERR, "HTTP $status: " . ($got['error'] ?? 'no answer') . "\n");
        exit(1);
    }
    return [$answer, $got];
}

$args = array_slice($argv, 1);
if (($args[0] ?? '') === 'send' && count($args) >= 3) {
    [, $to, $file] = $args;
    $id = $args[3] ?? bin2hex(random_bytes(8)); // the same id and bytes again: delivered once
    $data = file_get_contents($file);
    $md5 = md5($data);
    $boundary = bin2hex(random_bytes(16)); // multipart/form-data with the file in the part `data`
    $body = "--$boundary\r\nContent-Disposition: form-data; name=\"data\"; filename=\"" . basename($file) . "\"\r\n\r\n"
        . $data . "\r\n--$boundary--\r\n";
    $headers = ["Content-Type: multipart/form-data; boundary=$boundary", "message-to: $to", "message-id: $id", "message-md5: $md5"];
    [, $got] = call('/1/send-message', $to . $id . $md5, $headers, $body);
    echo $got['message-link'], "\n";
} elseif (($args[0] ?? '') === 'list') {
    echo call('/1/list-messages')[0], "\n";
} elseif (($args[0] ?? '') === 'get' && count($args) === 2) {
    echo call('/1/get-message/' . $args[1])[0]; // links are URL-safe: no quoting needed
} else {
    fwrite(STDERR, "usage: route_api.php send TO FILE [MESSAGE_ID] | list | get LINK\n");
    exit(2);
}
