"""relaybox: a self-hosted, signed-request message exchange gateway.

The SDK is re-exported lazily (``from relaybox import Client``), so ``import relaybox`` alone
stays free of httpx and of every server dependency.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    from relaybox.client import AsyncClient, Client, Message, MessageInfo
    from relaybox.errors import ApiError

_LAZY = {
    "Client": "relaybox.client",
    "AsyncClient": "relaybox.client",
    "Message": "relaybox.client",
    "MessageInfo": "relaybox.client",
    "ApiError": "relaybox.errors",
}

__all__ = ["ApiError", "AsyncClient", "Client", "Message", "MessageInfo", "__version__"]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'relaybox' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
