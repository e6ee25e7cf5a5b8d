"""The codec conformance check: does a provider codec keep the codec contract?

:func:`check_codec` feeds a codec its provider's documented frames, garbage, truncations and
type-swapped mutants, and asserts the promises of ``framework.providers.base``, as trio's
``check_one_way_stream`` does for streams. It raises AssertionError, so it reads as a test.

This module must not open sockets, read the wall clock or use unseeded randomness, and it
writes no files.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Final, get_args

import msgspec

from framework import events as ev
from framework.errors import ProviderProtocolError
from framework.providers.base import Ack, Codec, Decoded, ErrorReply, Pong, Subscription
from framework.redact import redact

__all__ = ["check_codec"]

_ENCODER: Final = msgspec.json.Encoder()
_DECODED: Final = get_args(Decoded)  # every event and control reply type, flattened
_MARKET: Final = get_args(ev.MarketEvent)
_GARBAGE: Final[tuple[str | bytes, ...]] = (
    "", "not json", "{", "[]", "null", "42", '"text"', "{}", '{"unexpected":true}',
    b"\xff\xfe\x00", "\ud800", "[" * 5000 + "]" * 5000,
)  # fmt: skip
_MUTANTS: Final[tuple[object, ...]] = (None, "x", -1, 1.5, [], {})
_SECRET: Final = "conformance-secret-0123456789"


def check_codec(
    codec: Codec, frames: Sequence[str | bytes], subscriptions: Sequence[Subscription] = ()
) -> list[list[Decoded]]:
    """Check that a provider codec keeps the codec contract (``framework.providers.base``).

    With the provider's documented ``frames`` (in an order that makes sense as a stream), it
    checks that each decodes, in text, bytes and ``msgspec.Raw`` form alike and the same again
    after :meth:`reset`, into known event types stamped with the codec's name and the receive
    time; that garbage, truncated frames and frames with any one value swapped for a wrong type
    raise :class:`~framework.errors.ProviderProtocolError` naming the provider, or decode, and
    never raise anything else; that the heartbeat is JSON; and, given ``subscriptions``, that
    (un)subscribe requests are JSON and that the API key in the URL is redacted from logs.

    Returns:
        What each documented frame decoded to, for further assertions.

    Raises:
        AssertionError: the first broken promise, naming the codec and the frame.
    """
    name = getattr(codec, "name", None)
    _require(isinstance(name, str) and bool(name), codec, "has no registry name")
    first = _decode_all(codec, list(frames))
    for form in (lambda f: f.encode() if isinstance(f, str) else f, _raw):
        codec.reset()
        again = _decode_all(codec, [form(f) for f in frames])
        _require(again == first, codec, "decodes differently after reset() or as bytes/Raw")
    codec.reset()
    for frame in _broken(frames):
        _decode_or_refuse(codec, frame)
    codec.reset()
    _require_json(codec, [codec.heartbeat()], "heartbeat()")
    if subscriptions:
        _require_json(codec, codec.subscribe(subscriptions), "subscribe()")
        _require_json(codec, codec.unsubscribe(subscriptions), "unsubscribe()")
        url = codec.url(subscriptions, "", _SECRET)
        _require(url.startswith(("ws://", "wss://")), codec, f"url() is not a WebSocket URL: {url}")
        _require(_SECRET not in redact(url), codec, "url() puts the key where redaction misses it")
    codec.reset()
    return first


# --- the codec check ----------------------------------------------------------------------------


def _decode_all(codec: Codec, frames: Sequence[str | bytes | msgspec.Raw]) -> list[list[Decoded]]:
    out = []
    for i, frame in enumerate(frames):
        ts = 1_000 + i
        try:
            items = codec.decode(frame, ts)
        except ProviderProtocolError as exc:
            raise AssertionError(f"{codec.name}: documented frame {i} was refused: {exc}") from exc
        _require(isinstance(items, list), codec, f"decode() returned {type(items).__name__}")
        for item in items:
            _check_item(codec, item, ts, i)
        out.append(items)
    return out


def _check_item(codec: Codec, item: object, ts: int, i: int, documented: bool = True) -> None:
    _require(isinstance(item, _DECODED), codec, f"frame {i} gave a {type(item).__name__}")
    if isinstance(item, _MARKET):
        _require(item.venue == codec.name, codec, f"frame {i}: venue {item.venue!r}")
        _require(item.ts_recv_ns == ts, codec, f"frame {i}: ts_recv_ns is not the receive time")
        # A wrongly typed value may still make a strange event; a documented one may not.
        _require(not documented or (item.ts_event_ns >= 0 and bool(item.instrument)), codec,
                 f"frame {i}: no event time or instrument: {item!r}")  # fmt: skip
    elif isinstance(item, Ack | Pong | ErrorReply):
        _require(item.provider == codec.name, codec, f"frame {i}: reply from {item.provider!r}")
    _ENCODER.encode(item)  # every event must be encodable: inspect and the output log write them


def _broken(frames: Sequence[str | bytes]) -> Iterator[str | bytes]:
    yield from _GARBAGE
    for frame in frames:
        text = frame.decode() if isinstance(frame, bytes) else frame
        yield text[: len(text) // 2]
        yield text[:-1]
        yield from _mutants(json.loads(text))


def _mutants(doc: Any) -> Iterator[str]:
    """The document with each value in turn swapped for each of a few wrongly typed ones."""
    for path in _paths(doc):
        for wrong in _MUTANTS:
            yield json.dumps(_replaced(doc, path, wrong))


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    children = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    )
    for key, value in children:
        yield (*prefix, key)
        yield from _paths(value, (*prefix, key))


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(doc, dict):
        return {k: _replaced(v, rest, value) if k == head else v for k, v in doc.items()}
    return [_replaced(v, rest, value) if i == head else v for i, v in enumerate(doc)]


def _decode_or_refuse(codec: Codec, frame: str | bytes) -> None:
    try:
        items = codec.decode(frame, 1_000)
    except ProviderProtocolError as exc:
        _require(exc.provider == codec.name, codec, f"error names provider {exc.provider!r}")
        _require(len(exc.excerpt) <= 203, codec, "error excerpt is over 200 characters")
        return
    except Exception as exc:  # the very thing being checked: nothing else may escape
        raise AssertionError(
            f"{codec.name}: decode raised {type(exc).__name__} (not ProviderProtocolError) "
            f"on {_short(frame)}: {exc}"
        ) from exc
    for item in items:
        _check_item(codec, item, 1_000, -1, documented=False)


def _require_json(codec: Codec, texts: Sequence[str], what: str) -> None:
    _require(bool(texts) and all(isinstance(t, str) for t in texts), codec, f"{what} gave no text")
    for text in texts:
        try:
            json.loads(text)
        except ValueError as exc:
            raise AssertionError(f"{codec.name}: {what} is not JSON: {_short(text)}") from exc


def _require(ok: bool, codec: Codec, problem: str) -> None:
    if not ok:
        raise AssertionError(f"{getattr(codec, 'name', type(codec).__name__)}: {problem}")


def _raw(frame: str | bytes) -> msgspec.Raw:
    return msgspec.Raw(frame.encode() if isinstance(frame, str) else frame)


def _short(frame: object) -> str:
    text = repr(frame)
    return text if len(text) <= 120 else text[:117] + "..."
