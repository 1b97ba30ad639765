"""relaybox's benchmark harness (issue 4): ``python -m bench`` or ``make bench``.

It starts what it measures on loopback (relaybox, a do-nothing floor app on the same server
stack, moto's SQS server), drives it from separate client processes, and writes
``bench/results/<date>.json``, ``.md`` and ``.png``. See ``bench/README.md``.
"""
