"""Fault-injection tests (issue 8): crashes, kills and database restarts under load.

A package, so that its conftest is ``faults.conftest`` and ``from conftest import ...`` keeps
meaning ``tests/conftest.py``.
"""
