"""The transport seam: WebSocket engines (the direct wsproto engine and
trio-websocket), the dial step and TLS.

Every exception of a foreign library is translated into :mod:`trio_heartbeat.errors`
here; nothing above this package catches one.
"""
