"""WebSocket close codes by name (RFC 6455 section 7.4 and the IANA registry).

:class:`CloseCode` is an ``IntEnum`` with the names of wsproto's ``CloseReason``,
so ``CloseCode.POLICY_VIOLATION == 1008`` and a code read from the wire (any int,
e.g. an application's 4000) compares with it directly.
"""

from __future__ import annotations

import enum

__all__ = ["CloseCode", "may_be_sent"]


class CloseCode(enum.IntEnum):
    """A WebSocket close code. ``str()`` and f-strings give the number."""

    NORMAL_CLOSURE = 1000  #: the purpose of the connection was fulfilled
    GOING_AWAY = 1001  #: server going down, or a browser leaving the page
    PROTOCOL_ERROR = 1002  #: the peer broke the WebSocket protocol
    UNSUPPORTED_DATA = 1003  #: a message type the endpoint cannot accept
    NO_STATUS_RCVD = 1005  #: a close frame without a code (never sent)
    ABNORMAL_CLOSURE = 1006  #: no close frame at all: the link dropped (never sent)
    INVALID_FRAME_PAYLOAD_DATA = 1007  #: e.g. a text message that is not UTF-8
    POLICY_VIOLATION = 1008  #: a message that violates the endpoint's policy
    MESSAGE_TOO_BIG = 1009  #: a message too large to process
    MANDATORY_EXT = 1010  #: the server did not negotiate a required extension
    INTERNAL_ERROR = 1011  #: the server met an unexpected condition
    SERVICE_RESTART = 1012  #: the server is restarting; reconnect
    TRY_AGAIN_LATER = 1013  #: temporary overload; reconnect later
    BAD_GATEWAY = 1014  #: a gateway got an invalid response upstream
    TLS_HANDSHAKE_FAILED = 1015  #: the TLS handshake failed (never sent)


_NEVER_SENT = frozenset(
    {CloseCode.NO_STATUS_RCVD, CloseCode.ABNORMAL_CLOSURE, CloseCode.TLS_HANDSHAKE_FAILED}
)


def may_be_sent(code: int) -> bool:
    """True when an endpoint may put ``code`` in a close frame.

    The registered codes 1000-1014 except the reserved 1004, 1005 and 1006, and
    the codes for libraries and applications, 3000-4999.
    """
    if 3000 <= code <= 4999:
        return True
    return (
        CloseCode.NORMAL_CLOSURE <= code <= CloseCode.BAD_GATEWAY
        and code != 1004
        and (code not in _NEVER_SENT)
    )
