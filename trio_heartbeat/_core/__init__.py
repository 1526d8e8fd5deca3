"""The pure core: heartbeat configuration, liveness, backoff and close-code policy,
the delivery ledger, events, the codec protocol and the rate limit.

Nothing in this package imports trio, reads a clock or uses the global ``random``:
every method takes ``now`` (float seconds) and bytes or text, and returns small
frozen decisions. It is tested synchronously, with explicit times.
"""
