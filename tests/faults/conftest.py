"""Fault tests have a short variant in the default run and long ones marked ``slow``.

``slow`` items are left out unless a ``-m`` expression picks the tests: ``pytest -m slow
tests/faults`` runs the long variants (``-m "slow or not slow"`` runs both).
"""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return  # the caller chose with -m
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if item.get_closest_marker("slow") is None]
