"""The relaybox SDK: signed calls to the route API over httpx.

It imports only httpx and relaybox's pure wire/auth/errors modules, never server packages.

The management API (``/v1``: accounts, stations, partners, message lists) has its own clients,
``ManagementClient`` and ``AsyncManagementClient``; they raise ``ManagementError`` (an ``ApiError``).

Example::

    from relaybox.client import ApiError, Client

    with Client("http://127.0.0.1:8080", "abcd@abcdef01", "s3cret") as rb:
        try:
            link = rb.send("report.pdf", to="ef01@1234abcd")
        except ApiError as exc:
            print(exc.code, exc.message, exc.request_id)
"""

from __future__ import annotations

from relaybox.client._async import AsyncClient
from relaybox.client._client import Client
from relaybox.client._core import Dest, Progress, RouteAuth, SendData
from relaybox.client._management import ManagementClient
from relaybox.client._management_async import AsyncManagementClient
from relaybox.client._management_models import (
    As2Message,
    Attachment,
    BatchResult,
    Download,
    ManagementError,
    MdnMessage,
    Page,
    Partner,
    SendResult,
    Station,
    Token,
)
from relaybox.client._models import ChecksumMismatch, Message, MessageInfo, decode_file_name, parse_message
from relaybox.client._receipts import InvalidReceipt, verify_receipt
from relaybox.errors import ApiError, RelayboxError

__all__ = [
    "ApiError",
    "As2Message",
    "AsyncClient",
    "AsyncManagementClient",
    "Attachment",
    "BatchResult",
    "ChecksumMismatch",
    "Client",
    "Dest",
    "Download",
    "InvalidReceipt",
    "ManagementClient",
    "ManagementError",
    "MdnMessage",
    "Message",
    "MessageInfo",
    "Page",
    "Partner",
    "Progress",
    "RelayboxError",
    "RouteAuth",
    "SendData",
    "SendResult",
    "Station",
    "Token",
    "decode_file_name",
    "parse_message",
    "verify_receipt",
]
