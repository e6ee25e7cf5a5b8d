"""The contract every provider codec fulfils, and the control replies codecs return.

A codec is **sans-IO** (as h11): it turns subscriptions into outbound text frames and inbound
frames into events. It never opens a socket, sleeps, or reads a clock; the receive time comes in
as an argument. It may keep protocol state (request ids, the bar still forming).

==========================  =========  ====================================================
member                      required   promise
==========================  =========  ====================================================
``name``                    required   registry name, also the ``venue`` of its events
``url(subs, host, key)``    required   the WebSocket URL to connect to (secrets inside it
                                       are the session's to redact)
``subscribe(subs)``         required   outbound text frames that subscribe ``subs``
``unsubscribe(subs)``       required   outbound text frames that unsubscribe ``subs``
``heartbeat()``             required   the keep-alive frame the provider documents
``decode(frame, ts)``       required   events and control replies, in frame order; raises
                                       ``ProviderProtocolError`` and nothing else on a frame
                                       that breaks the documentation
``reset()``                 required   forget per-connection state (after a reconnect)
``wire_type``               optional   the msgspec type of its inbound frames (a union);
                                       with ``decode_wire`` it lets a recording reader
                                       decode frames in the same pass as the lines
``decode_wire(msg, ts)``    optional   ``decode`` of a frame already decoded to wire_type
==========================  =========  ====================================================

Control replies are not market data: the loop hands them to the session (acks, pongs) and
counts errors; strategies never see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec

from framework import events as ev

__all__ = [
    "Ack",
    "Channel",
    "Codec",
    "Control",
    "Decoded",
    "ErrorReply",
    "Pong",
    "Subscription",
]

Channel = Literal["trades", "book", "bars", "ticker", "last_price"]


class Subscription(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One instrument on one channel, in the provider's native symbol.

    ``depth`` is the book depth (AllTick ``depth_level``) or, for Cryptomus, the depth
    ``scale_index``; ``interval`` is the bar frequency for Finazon (``1s``, ``10s``, ``1m``).
    """

    channel: Channel
    symbol: str
    depth: int = 0
    interval: str = ""


class Ack(msgspec.Struct, frozen=True, gc=False, tag="ack"):
    """The provider accepted a request (subscribe, unsubscribe, cancel)."""

    provider: str
    request_id: int | str | None  # the id the request carried, echoed by the provider
    detail: str = ""  # "trade_subscribe", "SUCCESS_SUBSCRIPTION", "22005"...


class Pong(msgspec.Struct, frozen=True, gc=False, tag="pong"):
    """The reply to a heartbeat or ping."""

    provider: str
    request_id: int | str | None


class ErrorReply(msgspec.Struct, frozen=True, gc=False, tag="error"):
    """An error the provider reported, with its own code and message."""

    provider: str
    code: int | str  # AllTick ret (401), Cryptomus code (1, 2), Finazon code string or ""
    message: str
    request_id: int | str | None = None


Control = Ack | Pong | ErrorReply
Decoded = ev.MarketEvent | ev.PrivateEvent | Control


class Codec(Protocol):
    """A sans-IO provider codec. See the module docstring for the contract."""

    name: str

    def url(self, subs: Sequence[Subscription], host: str, key: str) -> str: ...

    def subscribe(self, subs: Sequence[Subscription]) -> list[str]: ...

    def unsubscribe(self, subs: Sequence[Subscription]) -> list[str]: ...

    def heartbeat(self) -> str: ...

    def decode(self, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> list[Decoded]: ...

    def reset(self) -> None: ...
