"""Benchmarks for trio_heartbeat against raw trio-websocket, websockets and aiohttp.

Not part of the test suite: run with ``python -m bench`` (all scenarios) or
``python -m bench.<scenario>``. See bench/README.md.
"""
