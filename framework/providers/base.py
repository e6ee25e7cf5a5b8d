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
``wire_type``               default    the msgspec type of its inbound frames (a union), or
                                       None (the default, :class:`WireDefaults`): with
                                       it, a recording reader decodes frames straight
                                       into it in the same pass as the lines
``decode_wire(msg, ts)``    default    ``decode`` of a frame already decoded to
                                       ``wire_type`` (the default: ``decode`` itself)
==========================  =========  ====================================================

Control replies are not market data: the loop hands them to the session (acks, pongs) and
counts errors; strategies never see them.

Everything else the project knows about a provider (its schedules, spacing, credentials, how
its symbols map to canonical ids) is its :class:`Provider` description, one per provider
module, registered in ``framework.providers``. Nothing outside ``providers/``, ``emulators/``
and ``configs/`` spells a provider's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

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
    "Provider",
    "Subscription",
    "WireDefaults",
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

    @property
    def wire_type(self) -> Any: ...

    def decode_wire(self, msg: Any, ts_recv_ns: int) -> list[Decoded]: ...


class WireDefaults:
    """The replay fast path's defaults, for a codec without a wire type of its own: recorded
    frames reach :meth:`decode` as ``msgspec.Raw``, and ``decode_wire`` is ``decode``."""

    wire_type: ClassVar[Any] = None

    def decode(self, frame: bytes | str | msgspec.Raw, ts_recv_ns: int) -> list[Decoded]:
        raise NotImplementedError

    def decode_wire(self, msg: Any, ts_recv_ns: int) -> list[Decoded]:
        """``decode`` of a frame decoded to :attr:`wire_type` (here: the frame itself)."""
        return self.decode(msg, ts_recv_ns)


def _no_options(options: Mapping[str, str]) -> str:
    return ""


@dataclass(frozen=True, kw_only=True)
class Provider:
    """One provider, described once: everything the rest of the code asks about it.

    Attributes:
        name: the registry name (the ``p`` of recorded frames, the ``venue`` of its events).
        codec: a fresh codec for the provider's config options.
        from_native: the canonical instrument id of a native symbol, given the options.
        heartbeat_s: seconds between the keep-alive frames the provider asks for.
        reconnect_spacing_s: the documented minimum seconds between connection attempts,
            given the options (a plan may change it).
        ws_ping_s: seconds between RFC 6455 pings, if the provider expects them.
        request_spacing_s: minimum seconds between two requests on one connection.
        ws_token: the WebSocket URL needs a token fetched first from the REST API with the
            API key and a user id (so a user id is a credential too).
        key_env: the environment variable the config examples read the API key from.
        user_id_env: the same for the user id (providers with ``ws_token``).
        check_options: returns what is wrong with the options, in words ("" if nothing).
        key_refusal: the error code of the reply with which the provider documents refusing
            the key on the WebSocket (AllTick ``401``, Finazon ``INVALID_API_KEY``); a live
            session that receives it stops the run. "" if the provider has none.
    """

    name: str
    codec: Callable[[Mapping[str, str]], Codec]
    from_native: Callable[[str, Mapping[str, str]], str]
    heartbeat_s: float
    reconnect_spacing_s: Callable[[Mapping[str, str]], float]
    ws_ping_s: float | None = None
    request_spacing_s: float = 0.0
    ws_token: bool = False
    key_env: str = ""
    user_id_env: str = ""
    check_options: Callable[[Mapping[str, str]], str] = _no_options
    key_refusal: str = ""
