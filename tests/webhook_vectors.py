"""The worked example of webhooks.md ("Signatures"), shared by the signature and receiver tests."""

from __future__ import annotations

from pathlib import Path

SPEC = Path("/work/shared/spec/webhooks.md")  # checked when present (not in CI's checkout)
SECRET = "whsec_cmVsYXlib3gtZXhhbXBsZS13ZWJob29rLXNlY3JldCE="
EVENT_ID = "evt_01M89TGFVKE6SV5M7KQPEE1N9G"
# The body byte for byte (447 bytes, one line).
BODY = (
    b'{"event_id":"evt_01M89TGFVKE6SV5M7KQPEE1N9G","event_type":"message.received",'
    b'"created_at":"2026-11-25T17:02:03.123Z","event":{"link":"1f393c2d-23e3-JZ0TstJk39",'
    b'"from":"abcd@abcdef01","to":"ef01@1234abcd","message_id":"12345","subject":null,'
    b'"file_name":"invoice-12345.xml","size":22,"md5":"846f571f913b223bc48d90398201ca94",'
    b'"attachment_count":1,"pay_for_reply":true,"received_at":"2026-11-25T17:02:03.123Z",'
    b'"expires_at":"2026-11-26T17:02:03.123Z"}}'
)
SIGNATURE = "v1=53e218a4297f87aeb1527e9ed8fcf5370e0d32acb09dd3ae57669cdf669174c6"
T1, T2 = 1795626123, 1795626133  # 2026-11-25T17:02:03Z: attempts 1 and 2
STANDARD_T1 = "v1,wpQD06TbHOrN2mA9XIgxRlqTpLmMhcX0KQIZ4A5DRPE="
STANDARD_T2 = "v1,Fcs5HWpXm6GRhtN+f01KPYkUfi+r5oXNmd+0yBetvcM="
