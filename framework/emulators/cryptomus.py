"""The Cryptomus exchange emulator: the REST token endpoint and market list, and the WebSocket.

Every rule it enforces is in :data:`RULES`, with its source (the Cryptomus page,
``shared/seeds/002``, and protocols.md section 3) or marked assumed; the README's ``serve``
section tables them. In short:

* **Tokens.** ``GET /v2/user-api/exchange/account/web-socket/token`` checks ``userId`` (unknown:
  404) and ``sign = md5(base64(raw body) + key)`` (wrong: 401) and answers a fresh 64-hex token
  from a seeded generator. A token lives ``token_ttl`` seconds and is consumed by the first
  connection that presents it; a missing, unknown, expired or reused token is refused with
  HTTP 401 at the handshake (``token_rejection="http"``) or accepted and closed with 1008
  (``"close"``): which one the real server does is not documented. Unless strict, the
  page's placeholder ``your_auth_token_here`` connects, again and again.
* **Inactivity.** The connection closes ``inactivity_timeout`` seconds after the last *client*
  frame, however much the server pushes.
* **Requests.** ``ping`` gets a pong echoing ``id``. Text that is not JSON closes the connection
  at once. JSON that is not ``{"id": int, "method": str, "params": [str...]}`` gets error code 1
  (invalid message format); a well-formed request that cannot be served (unknown method or
  market, a second subscription of a data type already subscribed) gets code 2.
* **Subscriptions.** Acks as documented: subscribe acks carry ``method`` (except
  ``deal_subscribe``, whose documented ack has none), unsubscribe acks do not. ``all`` works
  for every kind. The first ``depth_update`` of a subscription is ``full_reload: true`` with
  the whole book; later ones carry the changed levels, ``"0"`` for a removed one. Private
  channels are acknowledged; their events come from the paper exchange, not from here.

Market data comes from the seeded model (rendered by ``wire.CryptomusRenderer``) or from a
recording's Cryptomus frames, routed by method and symbol; the depth book is rebuilt either
way (``cryptomus_depth``), so that every subscriber starts from a full reload.

This module must not log a token, key or signature unredacted, or read the wall clock.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from decimal import Decimal
from functools import partial
from typing import Final, Literal, NoReturn, Unpack
from urllib.parse import urlsplit

import msgspec
import trio
from msgspec import UNSET

from framework import instruments
from framework.emulators.cryptomus_depth import DepthBooks, DepthKey, Sent, depth_key
from framework.emulators.http import HttpRequest, HttpResponse, json_response, serve_http
from framework.emulators.market import BookChange, Happening, MarketParams
from framework.emulators.rules import Leniency, Rule
from framework.emulators.server import Connection, EmulatorServer, HarnessOptions, Rejection
from framework.emulators.source import Batch, Generated, ModelSource, Recorded
from framework.emulators.synthetic import params_for
from framework.emulators.wire import CryptomusRenderer
from framework.ids import UlidGenerator
from framework.money import render
from framework.providers import cryptomus as wire
from framework.redact import register_secret

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_INSTRUMENTS",
    "DEFAULT_USER_ID",
    "DOCUMENTED_MARKETS",
    "RULES",
    "SAMPLE_TOKEN",
    "CryptomusEmulator",
    "TokenStore",
    "market_source",
]

DEFAULT_USER_ID: Final = "7e1b9c2a-0d4f-4e6b-9a31-5c8d2f6e4a10"
DEFAULT_API_KEY: Final = "papertrade-emulator-cryptomus-key"
DEFAULT_INSTRUMENTS: Final = ("BTC/USDT", "ETH/USDT")
SAMPLE_TOKEN: Final = "your_auth_token_here"  # the placeholder in both samples on the page
DOCUMENTED_MARKETS: Final = {
    "BTC_USDT": wire.Market(  # seed 002, "Market list" response
        id="01HSBPVS17CT2GN2FV34K3AMP9", symbol="BTC_USDT", baseCurrency="BTC",
        quoteCurrency="USDT", baseMinSize="0.0000100000000000", quoteMinSize="0.1000000000000000",
        baseMaxSize="10000000000.0000000000000000", quoteMaxSize="99999999.0000000000000000",
        basePrec="8", quotePrec="6", baseCurrencyFullName="Bitcoin",
        quoteCurrencyFullName="Tether USD",
    ),
    "SOL_USDT": wire.Market(  # protocols.md 3.3, the market list's example
        id="01HSBPVS17CT2GN2FV34K3AMPC", symbol="SOL_USDT", baseCurrency="SOL",
        quoteCurrency="USDT", baseMinSize="0.01000000", quoteMinSize="5.00000000",
        baseMaxSize="500.00000000", quoteMaxSize="10000000.00000000", basePrec="4",
        quotePrec="4",
    ),
}  # fmt: skip
"""Market-list entries as the documentation shows them, served exactly."""
_PAGE: Final = "seed 002 (Cryptomus page)"
TOKEN_ENDPOINT = Rule(
    name="token endpoint",
    enforces="`GET .../web-socket/token` checks `userId` (unknown: 404) and `sign` = md5(base64(body) + key) (wrong: 401); answers a 64-hex token",
    source=f"{_PAGE}; protocols.md 3.1, 3.2 (the 401 is assumed)", documented=True,
)  # fmt: skip
ONE_TIME_TOKEN = Rule(
    name="one-time token",
    enforces="a token lives 5 minutes and is used up by the first connection; a missing, unknown, expired or reused one gets HTTP 401 at the handshake",
    source=f"{_PAGE}; protocols.md 3.2 (the 401 is assumed)", documented=True,
)  # fmt: skip
PLACEHOLDER = Rule(
    name="placeholder token",
    enforces=f"the page's `{SAMPLE_TOKEN}` is not a token",
    source=f"{_PAGE}: both samples connect with it", documented=False,
    lenient=f"`{SAMPLE_TOKEN}` connects, any number of times, counted",
)  # fmt: skip
INACTIVITY = Rule(
    name="inactivity", enforces="60 s without a client frame: close 1000, however much the server pushed",
    source=f"{_PAGE}; protocols.md 3.2 (the close code is assumed)", documented=True,
)  # fmt: skip
PING = Rule(
    name="ping", enforces="`ping` gets `pong` echoing `id`", source=_PAGE, documented=True,
)  # fmt: skip
INVALID_JSON = Rule(
    name="invalid JSON", enforces="text that is not JSON closes the connection (1003)",
    source=f"{_PAGE} (the close code is assumed)", documented=True,
)  # fmt: skip
ERRORS = Rule(
    name="error codes",
    enforces="JSON that is not a request gets error code 1; an unknown method or a malformed market gets code 2",
    source=f"{_PAGE} (the `error: {{code, message}}` nesting is assumed)", documented=True,
)  # fmt: skip
RESUBSCRIBE = Rule(
    name="one subscription per data type",
    enforces="a second `*_subscribe` of a data type already subscribed gets error code 2",
    source=f"{_PAGE} (the code is assumed)", documented=True,
)  # fmt: skip
ACKS = Rule(
    name="acknowledgements",
    enforces="subscribe acks carry `method` (not `deal_subscribe`'s), unsubscribe acks do not; `all` works for every kind",
    source=_PAGE, documented=True,
)  # fmt: skip
DEPTH = Rule(
    name="depth updates",
    enforces="`market:scale_index`; the first update is `full_reload: true`, later ones the changed levels, `\"0\"` for a removed one",
    source=f"{_PAGE} (first-is-full is assumed)", documented=True,
)  # fmt: skip
MARKETS = Rule(
    name="markets",
    enforces="any well-formed market (`TRX_USDT`) and currency (`TRX`) is served and listed; BTC_USDT and SOL_USDT entries exactly as documented",
    source=f"{_PAGE}; protocols.md 3.3 (serving every well-formed market and the other entries' values are assumed)",
    documented=True,
)  # fmt: skip
RULES: Final = (
    TOKEN_ENDPOINT, ONE_TIME_TOKEN, PLACEHOLDER, INACTIVITY, PING, INVALID_JSON, ERRORS,
    RESUBSCRIBE, ACKS, DEPTH, MARKETS,
)  # fmt: skip
"""Every rule this emulator enforces, documented or assumed."""
_MARKET: Final = re.compile(r"^[A-Z0-9]{2,12}_[A-Z0-9]{2,12}$")
_CURRENCY: Final = re.compile(r"^[A-Z0-9]{2,12}$")
INACTIVITY_CLOSE: Final = 1000  # code of the inactivity close (undocumented; a normal close)
INVALID_JSON_CLOSE: Final = 1003  # code of the close on invalid JSON (undocumented)
TOKEN_CLOSE: Final = 1008  # policy violation: the token was refused
_KINDS: Final = ("lastprice", "depth", "ticker", "trade", "order", "deal", "balance")
_PUBLIC: Final = {"trade": "trades", "lastprice": "last_price", "ticker": "ticker"}
_FULL_NAMES: Final = {"BTC": "Bitcoin", "ETH": "Ethereum", "USDT": "Tether USD", "TRX": "TRON"}
_MARKET_IDS_NS: Final = 1_710_900_000_000_000_000  # market ids look issued in March 2024
_ENCODER: Final = msgspec.json.Encoder()
_REQUEST: Final = msgspec.json.Decoder(wire.Request)
_ANY: Final = msgspec.json.Decoder()


class _Route(msgspec.Struct, frozen=True):
    # Just enough of a recorded update to route it: its method and market.
    method: str = ""
    data: _Symbol | None = None


class _Symbol(msgspec.Struct, frozen=True):
    symbol: str = ""


_ROUTE: Final = msgspec.json.Decoder(_Route)
_DEPTH: Final = msgspec.json.Decoder(wire.DepthUpdate)


class TokenStore:
    """One-time WebSocket tokens, drawn from ``random.Random(seed)``, timed on trio's clock."""

    def __init__(self, seed: int, ttl: float) -> None:
        self._rng = random.Random(f"cryptomus-token:{seed}")
        self.ttl = ttl
        self._expiry: dict[str, float] = {}
        self._used: set[str] = set()  # membership only, never iterated

    def issue(self) -> str:
        """A fresh 64-hex token, valid for ``ttl`` seconds from now, registered as a secret."""
        token = f"{self._rng.getrandbits(256):064x}"
        self._expiry[token] = trio.current_time() + self.ttl
        register_secret(token)
        return token

    def consume(self, token: str) -> str:
        """Use ``token`` up: "" when it was valid, else what is wrong with it."""
        if not token:
            return "token missing"
        if token in self._used:
            return "token already used"
        expiry = self._expiry.pop(token, None)
        if expiry is None:
            return "token unknown"
        self._used.add(token)
        return "token expired" if trio.current_time() >= expiry else ""


class _Subs:
    """One connection's subscriptions: per kind, the markets (or "all"); depth separately."""

    def __init__(self) -> None:
        self.kinds: dict[str, dict[str, None]] = {}  # kind -> ordered set of params
        # per depth subscription, the (bids, asks) last sent; None: next is a full reload
        self.depth: dict[DepthKey, Sent | None] = {}
        self.depth_all = False

    def wants(self, kind: str, symbol: str) -> bool:
        params = self.kinds.get(kind)
        return params is not None and ("all" in params or symbol in params)


class CryptomusEmulator(EmulatorServer):
    """A strict Cryptomus server on loopback: REST on :attr:`rest_url`, WebSocket on ``/ws``.

    Args:
        users: user id -> API key; defaults to one test user (:data:`DEFAULT_USER_ID`).
        instruments: canonical ids of the listed markets.
        seed: seeds the tokens and the market ids.
        token_ttl: seconds a token stays valid.
        inactivity_timeout: seconds without a client frame before the server closes.
        token_rejection: ``"http"`` (401 at the handshake) or ``"close"`` (accept, close 1008).
        scale_indexes: the depth scales each market offers; index ``i`` groups prices by
            ``tick * 10**i`` (generated books only; a recording serves its own scale).
        deal_ack_method: give the ``deal_subscribe`` ack a ``method``, which the documented
            example lacks.
        strict: refuse the page's placeholder token (see :data:`RULES`).
        rest_port: the REST port; 0 lets the system choose.
        **options: the harness's options (``source``, ``faults``, ``speed``, ``port``...).
    """

    name = "cryptomus"

    def __init__(
        self, *, users: dict[str, str] | None = None,
        instruments: Sequence[str] = DEFAULT_INSTRUMENTS, seed: int = 0, token_ttl: float = 300.0,
        inactivity_timeout: float = 60.0, token_rejection: Literal["http", "close"] = "http",
        scale_indexes: Sequence[int] = (0, 1, 2), deal_ack_method: bool = False,
        strict: bool = False, rest_port: int = 0, **options: Unpack[HarnessOptions],
    ) -> None:  # fmt: skip
        super().__init__(**options)
        self.leniency = Leniency(self.name, strict=strict)
        self.users = dict(users) if users is not None else {DEFAULT_USER_ID: DEFAULT_API_KEY}
        for key in self.users.values():
            register_secret(key)
        self.tokens = TokenStore(seed, token_ttl)
        self.inactivity_timeout = inactivity_timeout
        self.token_rejection = token_rejection
        self.scale_indexes = tuple(scale_indexes)
        self.deal_ack_method = deal_ack_method
        self.rest_port = rest_port
        self.markets: list[wire.Market] = []  # listed, in the order first served
        self._ids = UlidGenerator(seed)
        self._symbols: dict[str, wire.Market] = {}
        self._ticks: dict[str, Decimal] = {}  # price grid by market, for grouping depth
        for name in instruments:
            self._list(_native(name))
        self._depth = DepthBooks(self._ticks)
        self._renderers: dict[tuple[str, str], CryptomusRenderer] = {}
        self._sessions: dict[int, tuple[Connection, _Subs]] = {}

    @property
    def rest_url(self) -> str:
        """``http://host:port``: the REST base, once serving."""
        return f"http://{self.host}:{self.rest_port}"

    async def serve(
        self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Serve REST and WebSocket until cancelled; reports the WebSocket base URL."""
        async with trio.open_nursery() as nursery:
            rest = partial(serve_http, self._rest, host=self.host, port=self.rest_port)
            self.rest_port = await nursery.start(rest)
            task_status.started(await nursery.start(super().serve))
        raise AssertionError("unreachable")  # pragma: no cover - serve only raises

    # --- REST ----------------------------------------------------------------------------------

    def _rest(self, request: HttpRequest) -> HttpResponse:
        path = urlsplit(request.target).path
        if path not in (wire.TOKEN_PATH, wire.MARKETS_PATH):
            return json_response(404, {"message": "Not found"})
        if request.method != "GET":
            return json_response(405, {"message": "Method not allowed"})
        if path == wire.MARKETS_PATH:
            return json_response(200, wire.MarketList(self.markets))
        key = self.users.get(request.header("userId") or "")
        if key is None:
            return json_response(404, {"message": "User not found"})
        if request.header("sign") != wire.sign(request.body, key):  # rule TOKEN_ENDPOINT
            return json_response(401, {"message": "Invalid sign"})
        return json_response(200, wire.TokenReply(self.tokens.issue()))

    # --- WebSocket ---------------------------------------------------------------------------

    def check_handshake(self, path: str, query: dict[str, str]) -> Rejection | None:
        """Refuse other paths with 404 and, in ``"http"`` mode, a bad token with 401."""
        if path != "/ws":
            return Rejection(404, b'{"message":"Not found"}')
        if self.token_rejection == "http":
            problem = self._token_problem(query)
            if problem:
                return Rejection(401, _ENCODER.encode({"message": problem}))
        return None

    async def session(self, conn: Connection) -> None:
        """Check the token (``"close"`` mode), then answer requests until inactivity."""
        if self.token_rejection == "close":
            problem = self._token_problem(conn.query)
            if problem:
                conn.close(TOKEN_CLOSE, problem)
                return
        subs = _Subs()
        self._sessions[conn.id] = (conn, subs)
        try:
            while not conn.closing:
                message = await conn.receive(conn.last_received_at + self.inactivity_timeout)
                if message is None:  # rule INACTIVITY
                    conn.close(INACTIVITY_CLOSE, "inactivity timeout")
                else:
                    self._on_message(conn, subs, message)
        finally:
            del self._sessions[conn.id]

    def _token_problem(self, query: dict[str, str]) -> str:
        token = query.get("token", "")
        if token == SAMPLE_TOKEN and self.leniency.waive(PLACEHOLDER, "handshake"):
            return ""
        problem = self.tokens.consume(token)  # rule ONE_TIME_TOKEN
        if not problem and self.take_auth_fault():
            problem = "token already used"
        return problem

    def _on_message(self, conn: Connection, subs: _Subs, message: str | bytes) -> None:
        try:
            loose = _ANY.decode(message)
        except msgspec.DecodeError:  # rule INVALID_JSON
            conn.close(INVALID_JSON_CLOSE, "invalid JSON")
            return
        try:
            request = _REQUEST.decode(message)
        except msgspec.ValidationError:
            request_id = loose.get("id") if isinstance(loose, dict) else None
            ok_id = request_id if isinstance(request_id, int | str) else None
            conn.reply(_error(ok_id, 1, "invalid message format"))
            return
        if request.method == "ping":  # rule PING
            conn.reply(_json(wire.Reply(request.id, "pong")))
            return
        kind, _, verb = request.method.rpartition("_")
        if kind not in _KINDS or verb not in ("subscribe", "unsubscribe"):
            conn.reply(_error(request.id, 2, f"unknown method {request.method}"))
        elif verb == "unsubscribe":
            self._unsubscribe(subs, kind, request.params)
            conn.reply(_json(wire.Reply(request.id, data=wire.AckData("success"))))
        else:
            self._subscribe(conn, subs, kind, request)

    def _subscribe(self, conn: Connection, subs: _Subs, kind: str, request: wire.Request) -> None:
        # Rule RESUBSCRIBE.
        if kind in subs.kinds or (kind == "depth" and (subs.depth or subs.depth_all)):
            conn.reply(_error(request.id, 2, f"already subscribed to {kind}"))
            return
        problem = self._bad_params(kind, request.params)
        if problem:
            conn.reply(_error(request.id, 2, problem))
            return
        with_method = kind != "deal" or self.deal_ack_method  # rule ACKS
        method = request.method if with_method else UNSET
        conn.reply(_json(wire.Reply(request.id, method, wire.AckData("success"))))
        if kind != "depth":
            subs.kinds[kind] = dict.fromkeys(request.params)
            return
        if "all" in request.params:
            subs.depth_all = True
            keys = [(m.symbol, 0) for m in self.markets]
        else:
            keys = [depth_key(p) for p in request.params]
        for key in keys:
            subs.depth[key] = None
            self._push_depth(conn, subs, key)

    def _unsubscribe(self, subs: _Subs, kind: str, params: list[str]) -> None:
        everything = not params or "all" in params
        if kind == "depth":
            if everything:
                subs.depth.clear()
                subs.depth_all = False
            for param in params:
                subs.depth.pop(depth_key(param), None)
            return
        current = subs.kinds.get(kind, {})
        for param in params:
            current.pop(param, None)
        if everything or not current:
            subs.kinds.pop(kind, None)

    def _bad_params(self, kind: str, params: list[str]) -> str:
        if not params:
            return f"{kind}_subscribe needs at least one parameter"
        for param in params:  # rule MARKETS, rule ERRORS
            if param == "all":
                continue
            if kind == "depth":
                symbol, _, index = param.partition(":")
                if not self._list(symbol) or not index.isdigit():
                    return f"invalid depth parameter {param!r}, expected market:scale_index"
                if int(index) not in self.scale_indexes:
                    return f"unknown scale index {index} for {symbol}"
            elif kind == "balance" and not _CURRENCY.match(param):
                return f"unknown currency {param}"
            elif kind != "balance" and not self._list(param):
                return f"unknown market {param}"
        return ""

    def _list(self, symbol: str) -> bool:
        """True when ``symbol`` is a market served, listing it (and feeding the model) if new."""
        if symbol in self._symbols:
            return True
        if not _MARKET.match(symbol):
            return False
        name = instruments.from_cryptomus(symbol)
        params = params_for(name)
        market = DOCUMENTED_MARKETS.get(symbol) or _market(
            name, params, self._ids.new(_MARKET_IDS_NS)
        )
        self.markets.append(market)
        self._symbols[symbol] = market
        self._ticks[symbol] = params.tick
        if isinstance(self.source, ModelSource):  # a recording has only the markets it recorded
            self.source.add(name, _cadence(params))
        return True

    # --- market data ---------------------------------------------------------------------------

    def on_batch(self, batch: Batch) -> None:
        """Route the batch's updates to subscribers; rebuild and diff the depth books."""
        changed: list[tuple[str, int]] = []
        frames: list[tuple[str, str, str]] = []  # (kind, symbol, text)
        by_symbol: dict[str, list[Happening]] = {}
        for item in batch.items:
            if isinstance(item, Generated):
                by_symbol.setdefault(instruments.to_cryptomus(item.instrument), []).append(
                    item.happening
                )
            elif isinstance(item, Recorded):
                self._recorded(item.data, frames, changed)
        for symbol, happenings in by_symbol.items():
            self._generated(symbol, happenings, frames, changed)
        for conn, subs in list(self._sessions.values()):
            for kind, symbol, text in frames:
                if subs.wants(kind, symbol):
                    conn.push(text)
            for key in list(subs.depth):
                if key in changed or (key[0], 0) in changed:
                    self._push_depth(conn, subs, key)

    def _generated(
        self, symbol: str, happenings: list[Happening], frames: list[tuple[str, str, str]],
        changed: list[DepthKey],
    ) -> None:  # fmt: skip
        wanted = [s for _, s in self._sessions.values()]
        for kind, channel in _PUBLIC.items():
            if any(s.wants(kind, symbol) for s in wanted):
                key = (symbol, kind)
                renderer = self._renderers.get(key)
                if renderer is None:
                    renderer = self._renderers[key] = CryptomusRenderer(symbol, channels=(channel,))
                frames.extend((kind, symbol, f.text) for f in renderer.render(happenings))
        for happening in happenings:
            if isinstance(happening, BookChange):
                changed.append(self._depth.replace(symbol, happening))

    def _recorded(
        self, data: str, frames: list[tuple[str, str, str]], changed: list[DepthKey]
    ) -> None:
        try:
            route = _ROUTE.decode(data)
            kind = route.method.removesuffix("_update")
            if route.method == "depth_update":
                changed.append(self._depth.apply(_DEPTH.decode(data).data))
            elif kind in _PUBLIC and route.data is not None:
                frames.append((kind, route.data.symbol, data))
        except msgspec.DecodeError:
            return  # not an update this emulator routes (a recorded garbage frame)

    def _push_depth(self, conn: Connection, subs: _Subs, key: DepthKey) -> None:
        # Rule DEPTH: a full reload first, then the changed levels (cryptomus_depth).
        push = self._depth.push(key, subs.depth.get(key))
        if push is not None:
            sent, text = push
            subs.depth[key] = sent
            conn.push(text)


def market_source(
    seed: int, start_ns: int, instruments: Sequence[str] = DEFAULT_INSTRUMENTS
) -> ModelSource:
    """The seeded market model with Cryptomus's cadences: trades, book and ticker, no bars."""
    params = {name: _cadence(params_for(name)) for name in instruments}
    return ModelSource(instruments, seed, start_ns, params)


def _cadence(params: MarketParams) -> MarketParams:
    return msgspec.structs.replace(params, bar_update_ns=0)


def _native(name: str) -> str:
    return instruments.to_cryptomus(name)


def _json(message: object) -> str:
    return _ENCODER.encode(message).decode("utf-8")


def _error(request_id: int | str | None, code: int, message: str) -> str:
    return _json(wire.Reply(request_id, error=wire.ErrorBody(code, message)))


def _market(name: str, params: MarketParams, market_id: str) -> wire.Market:
    # An undocumented market's rules follow the model's grid: its tick and size step.
    base, _, quote = name.partition("/")
    tick, size_step = params.tick, params.size_step
    return wire.Market(
        id=market_id, symbol=instruments.to_cryptomus(name), baseCurrency=base,
        quoteCurrency=quote, baseMinSize=render(size_step), quoteMinSize=render(Decimal("0.1")),
        baseMaxSize=render(Decimal(10_000_000_000)), quoteMaxSize=render(Decimal(99_999_999)),
        basePrec=str(_places(size_step)), quotePrec=str(_places(tick)),
        baseCurrencyFullName=_FULL_NAMES.get(base, UNSET),
        quoteCurrencyFullName=_FULL_NAMES.get(quote, UNSET),
    )  # fmt: skip


def _places(step: Decimal) -> int:
    exponent = step.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0
