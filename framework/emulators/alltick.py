"""The AllTick emulator: two WebSocket endpoints, token in the URL, replace-semantics lists.

Every rule it enforces is in :data:`RULES`, with its source (protocols.md section 1 and the
AllTick page, ``shared/seeds/001``) or marked assumed; the README's ``serve`` section tables them.
In short:

* **Token.** ``?token=`` on ``/quote-stock-b-ws-api`` (stocks) or ``/quote-b-ws-api``
  (everything else). A bad token gets ``{"ret":401,"msg":"token invalid","cmd_id":0,...}`` and
  a close. The page's placeholder ``testtoken`` is accepted unless strict. Connections per
  token and endpoint are capped by plan; the extra one is closed at once (after a 606 frame,
  if ``cap_reply`` says so).
* **Heartbeat.** 22000 gets 22001 echoing ``seq_id`` and ``trace``; a connection with no 22000
  for ``heartbeat_timeout`` seconds is closed. Unless strict, a WebSocket ping frame keeps the
  connection alive too, as the page's PHP sample expects.
* **Spacing.** A 22002, 22004 or 22006 within ``min_request_interval`` of the last one of the
  same command is refused: ``ret 605``, or ``606`` and a close (``spacing_code``). With
  ``strict``, so is any request (heartbeats aside, unless ``space_heartbeats``) that close to
  the last accepted one, which the page's Go sample does (22002 then 22004 at once).
* **Lists.** 22002 (depth) and 22004 (trades) replace that kind's list; only the first
  ``max_codes`` codes count, the rest are silently ignored, as documented. Any well-formed code
  is served (a market derived from it, ``synthetic.params_for``; a recording serves only its
  own codes); a malformed code or one of the other endpoint is ignored, and a list with no
  valid code gets ``ret 600``. 22006 cancels depth (1), trades (2) or both (0).
* **Malformed.** A request whose header cannot be read gets ``ret 400`` with ``cmd_id`` 0,
  ``seq_id`` 0 and an empty ``trace``; a bad ``data`` gets ``ret 400`` "request data param
  invalid" with the request's ids.

Pushes: 22998 per trade and 22999 book snapshots cut to each subscriber's ``depth_level``
(1 when absent), from the seeded model (``wire.AllTickRenderer``) or a recording.

This module must not log a token unredacted or read the wall clock.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from typing import Final, Literal, Unpack

import msgspec
import trio

from framework import instruments
from framework.emulators.market import Happening, MarketParams
from framework.emulators.rules import Leniency, Rule
from framework.emulators.server import (
    Batch,
    Connection,
    EmulatorServer,
    Generated,
    HarnessOptions,
    ModelSource,
    Recorded,
    Rejection,
)
from framework.emulators.synthetic import params_for
from framework.emulators.wire import AllTickRenderer
from framework.errors import ConfigError, ProviderProtocolError
from framework.providers import alltick as wire
from framework.redact import register_secret

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "DEFAULT_TOKEN",
    "RULES",
    "SAMPLE_TOKEN",
    "AllTickEmulator",
    "market_source",
]

DEFAULT_TOKEN: Final = "papertrade-emulator-alltick-token"
SAMPLE_TOKEN: Final = "testtoken"  # the placeholder in every sample on the AllTick page
_PAGE: Final = "seed 001 (AllTick page)"
TOKEN = Rule(
    name="token", enforces="`?token=` in the URL; a bad one gets a `ret 401` frame, then close 1008",
    source="protocols.md 1.1, 1.6 (the reply and close are assumed)", documented=True,
)  # fmt: skip
PLACEHOLDER = Rule(
    name="placeholder token",
    enforces=f"the page's `{SAMPLE_TOKEN}` is not a token (only the emulator's own is)",
    source=f"{_PAGE}: every sample connects with it", documented=False,
    lenient=f"`{SAMPLE_TOKEN}` is accepted, counted",
)  # fmt: skip
ENDPOINTS = Rule(
    name="endpoints", enforces="only `/quote-stock-b-ws-api` and `/quote-b-ws-api`; others get HTTP 404",
    source="protocols.md 1.1 (the 404 is assumed)", documented=True,
)  # fmt: skip
HEARTBEAT = Rule(
    name="heartbeat", enforces="22000 gets 22001 echoing `seq_id` and `trace`",
    source="protocols.md 1.3, 1.10", documented=True,
)  # fmt: skip
HEARTBEAT_TIMEOUT = Rule(
    name="heartbeat timeout", enforces="no 22000 for 30 s: close 1000 \"heartbeat timeout\"",
    source="protocols.md 1.7 (the close code is assumed)", documented=True,
)  # fmt: skip
PING_KEEPALIVE = Rule(
    name="JSON heartbeat only",
    enforces="a WebSocket ping frame does not count as a heartbeat",
    source=f"protocols.md 1.7 (the documented keep-alive is 22000); {_PAGE}: the PHP sample pings instead",
    documented=False, lenient="a ping frame counts as a heartbeat, counted",
)  # fmt: skip
RATE_PER_KIND = Rule(
    name="1 request per second per kind",
    enforces="a second 22002, 22004 or 22006 within 1 s of the last of the same kind gets `ret 605`",
    source="protocols.md 1.7 (the 605 reply is assumed)", documented=True,
)  # fmt: skip
SPACING = Rule(
    name="1 s between any two requests",
    enforces="any request within 1 s of the last accepted one (heartbeats aside) gets `ret 605`",
    source=f"protocols.md 1.7 (the 605 reply is assumed); {_PAGE}: the Go sample sends 22002 and 22004 at once",
    documented=True, lenient="served, counted (the per-kind rate still holds)",
)  # fmt: skip
REPLACE = Rule(
    name="replace semantics",
    enforces="a 22002 or 22004 replaces that kind's list; 22006 `cancel_type` 0/1/2 clears all/depth/trades",
    source="protocols.md 1.3, 1.10", documented=True,
)  # fmt: skip
CODE_CAP = Rule(
    name="codes per list", enforces="only the plan's first N codes count (basic 100), the rest are ignored silently",
    source="protocols.md 1.7", documented=True,
)  # fmt: skip
CODES = Rule(
    name="codes",
    enforces="any well-formed code is served; a malformed one or one of the other endpoint is ignored, a list with none valid gets `ret 600`",
    source="protocols.md 1.1, 1.6, 1.8 (serving every well-formed code, and ignoring bad ones beside good ones, are assumed)",
    documented=True,
)  # fmt: skip
CONNECTIONS = Rule(
    name="connections per token",
    enforces="per token and endpoint, the plan's cap (basic 1); the extra one is closed 1008 at once",
    source="protocols.md 1.7 (the close code is assumed)", documented=True,
)  # fmt: skip
MALFORMED = Rule(
    name="malformed requests",
    enforces="an unreadable header gets `ret 400` with `cmd_id` 0; a bad `data` gets `ret 400` \"request data param invalid\"",
    source="protocols.md 1.2, 1.6, 1.10", documented=True,
)  # fmt: skip
DEPTH = Rule(
    name="depth levels",
    enforces="books cut to `depth_level` (1 when absent) and to the product's levels: HK 10, A-shares and crypto 5, US, forex and metals 1",
    source="protocols.md 1.3, 1.7", documented=True,
)  # fmt: skip
RULES: Final = (
    TOKEN, PLACEHOLDER, ENDPOINTS, HEARTBEAT, HEARTBEAT_TIMEOUT, PING_KEEPALIVE, RATE_PER_KIND,
    SPACING, REPLACE, CODE_CAP, CODES, CONNECTIONS, MALFORMED, DEPTH,
)  # fmt: skip
"""Every rule this emulator enforces, documented or assumed."""
DEFAULT_INSTRUMENTS: Final = ("BTC/USDT", "ETH/USDT", "EUR/USD", "AAPL.US")
TIMEOUT_CLOSE: Final = 1000  # code of the heartbeat-timeout close (undocumented)
REFUSE_CLOSE: Final = 1008  # code of the close after a refused token or connection
_CRYPTO_QUOTES: Final = frozenset({"USDT", "USDC", "BUSD", "FDUSD", "TUSD", "BTC", "ETH"})
_STOCK_CODE: Final = re.compile(r"^(\d{1,5}\.HK|\d{6}\.(SH|SZ)|[A-Z][A-Z0-9.\-]{0,11}\.US)$")
_FOREX_CODE: Final = re.compile(r"^[A-Z][A-Za-z0-9]{2,19}$")
_HEADER_INVALID: Final = "request header param invalid"
_DATA_INVALID: Final = "request data param invalid"
_ReplyType = (
    type[wire.HeartbeatReply] | type[wire.DepthSubscribeReply] | type[wire.TradeSubscribeReply]
    | type[wire.CancelReply] | type[wire.HeaderInvalidReply]
)  # fmt: skip
_REPLIES: Final[dict[int, _ReplyType]] = {
    22000: wire.HeartbeatReply,
    22002: wire.DepthSubscribeReply,
    22004: wire.TradeSubscribeReply,
    22006: wire.CancelReply,
}
_ENCODER: Final = msgspec.json.Encoder()


class _Header(msgspec.Struct, frozen=True):
    # The envelope alone, to echo ids when only ``data`` is wrong.
    cmd_id: int
    seq_id: int
    trace: str


class _Route(msgspec.Struct, frozen=True):
    # Just enough of a recorded push to route it.
    cmd_id: int
    data: _Code


class _Code(msgspec.Struct, frozen=True):
    code: str = ""


_HEADER: Final = msgspec.json.Decoder(_Header)
_ROUTE: Final = msgspec.json.Decoder(_Route)
_BOOK: Final = msgspec.json.Decoder(wire.OrderBookPush)


class _Subs:
    """One connection: its endpoint, its two lists and its clocks."""

    def __init__(self, endpoint: str, token: str, now: float) -> None:
        self.endpoint = endpoint
        self.token = token
        self.depth: dict[str, int] = {}  # code -> levels wanted, in request order
        self.trades: dict[str, None] = {}  # codes, an ordered set
        self.last_heartbeat = now
        self.last_request = -float("inf")
        self.last_of: dict[int, float] = {}  # cmd_id -> when the last one was accepted
        self.pings_seen = 0  # WebSocket ping frames already taken into account


class AllTickEmulator(EmulatorServer):
    """A strict AllTick server on loopback; see the module docstring.

    Args:
        tokens: the valid tokens; defaults to :data:`DEFAULT_TOKEN`.
        instruments: canonical ids of the codes served (``BTC/USDT`` is ``BTCUSDT``).
        plan: sets ``max_codes`` and ``max_connections`` from the documented plan tables.
        max_codes: codes kept per list (overrides the plan).
        max_connections: connections per token and endpoint (overrides the plan).
        heartbeat_timeout: seconds without a 22000 before the server closes.
        min_request_interval: seconds two requests on a connection must be apart.
        spacing_code: 605 (refuse the request) or 606 (refuse it and close).
        space_heartbeats: count heartbeats as requests for the spacing rule.
        cap_reply: send a 606 frame before closing a connection over the cap.
        string_times: push ``seq`` and ``tick_time`` as strings (the older docs).
        strict: enforce the rules the page's own samples break (see :data:`RULES`).
        **options: the harness's options (``source``, ``faults``, ``speed``, ``port``...).
    """

    name = "alltick"

    def __init__(
        self,
        *,
        tokens: Collection[str] = (DEFAULT_TOKEN,),
        instruments: Sequence[str] = DEFAULT_INSTRUMENTS,
        plan: str = "basic",
        max_codes: int | None = None,
        max_connections: int | None = None,
        heartbeat_timeout: float = 30.0,
        min_request_interval: float = 1.0,
        spacing_code: Literal[605, 606] = 605,
        space_heartbeats: bool = False,
        cap_reply: bool = False,
        string_times: bool = False,
        strict: bool = False,
        **options: Unpack[HarnessOptions],
    ) -> None:
        super().__init__(**options)
        self.leniency = Leniency(self.name, strict=strict)
        if plan not in wire.PLAN_CODE_CAPS:
            raise ConfigError(
                f"unknown AllTick plan {plan!r}; known: {', '.join(wire.PLAN_CODE_CAPS)}"
            )
        self.tokens = frozenset(tokens)
        for token in self.tokens:
            register_secret(token)
        self.max_codes = max_codes if max_codes is not None else wire.PLAN_CODE_CAPS[plan]
        self.max_connections = (
            max_connections if max_connections is not None else wire.PLAN_CONNECTION_CAPS[plan]
        )
        self.heartbeat_timeout = heartbeat_timeout
        self.min_request_interval = min_request_interval
        self.spacing_code = spacing_code
        self.space_heartbeats = space_heartbeats
        self.cap_reply = cap_reply
        self.string_times = string_times
        self.codes = {_code(name): name for name in instruments}
        self._renderers: dict[str, AllTickRenderer] = {}
        self._sessions: dict[int, tuple[Connection, _Subs]] = {}

    def check_handshake(self, path: str, query: dict[str, str]) -> Rejection | None:
        """Only the two documented endpoints exist (rule ENDPOINTS)."""
        if path not in (wire.STOCK_PATH, wire.FOREX_PATH):
            return Rejection(404)
        return None

    async def session(self, conn: Connection) -> None:
        """Check the token and the cap, then answer requests until the heartbeat times out."""
        token = conn.query.get("token", "")
        endpoint = "stock" if conn.path == wire.STOCK_PATH else "forex"
        known = token in self.tokens or (
            token == SAMPLE_TOKEN and self.leniency.waive(PLACEHOLDER, f"#{conn.id}")
        )
        if not known or self.take_auth_fault():  # rule TOKEN
            conn.reply(_reply(wire.HeaderInvalidReply, 401, 0, ""))
            conn.close(REFUSE_CLOSE, "token invalid")
            return
        if self._open_for(token, endpoint) >= self.max_connections:  # rule CONNECTIONS
            if self.cap_reply:
                conn.reply(_reply(wire.HeaderInvalidReply, 606, 0, ""))
            conn.close(REFUSE_CLOSE, "too many connections")
            return
        subs = _Subs(endpoint, token, trio.current_time())
        self._sessions[conn.id] = (conn, subs)
        try:
            while not conn.closing:
                message = await conn.receive(subs.last_heartbeat + self.heartbeat_timeout)
                if message is None and not self._pinged(conn, subs):  # rule HEARTBEAT_TIMEOUT
                    conn.close(TIMEOUT_CLOSE, "heartbeat timeout")
                elif message is not None:
                    self._on_message(conn, subs, message)
        finally:
            del self._sessions[conn.id]

    def _pinged(self, conn: Connection, subs: _Subs) -> bool:
        """Rule PING_KEEPALIVE: unless strict, a ping frame since the last heartbeat is one."""
        pings = conn.pings
        if pings.count == subs.pings_seen or pings.last_at <= subs.last_heartbeat:
            return False
        subs.pings_seen = pings.count
        if not self.leniency.waive(PING_KEEPALIVE, f"#{conn.id}"):
            return False
        subs.last_heartbeat = pings.last_at
        return True

    def _open_for(self, token: str, endpoint: str) -> int:
        return sum(
            1 for _, s in self._sessions.values() if (s.token, s.endpoint) == (token, endpoint)
        )

    def _on_message(self, conn: Connection, subs: _Subs, message: str | bytes) -> None:
        try:
            request = wire.decode_request(message)
        except ProviderProtocolError as exc:
            self._malformed(conn, message, exc)
            return
        now = trio.current_time()
        cmd = _cmd(request)
        spaced = self.space_heartbeats or not isinstance(request, wire.Heartbeat)
        reply_type = _REPLIES[cmd]
        same_kind = now - subs.last_of.get(cmd, -float("inf")) < self.min_request_interval
        too_soon = spaced and now - subs.last_request < self.min_request_interval
        if (spaced and same_kind) or (  # rule RATE_PER_KIND, then rule SPACING
            too_soon and not self.leniency.waive(SPACING, f"#{conn.id}")
        ):
            conn.reply(_reply(reply_type, self.spacing_code, request.seq_id, request.trace))
            if self.spacing_code == 606:
                conn.close(REFUSE_CLOSE, "too many requests")
            return
        if spaced:
            subs.last_request = subs.last_of[cmd] = now
        ret = 200
        if isinstance(request, wire.Heartbeat):  # rule HEARTBEAT
            subs.last_heartbeat = now
        elif isinstance(request, wire.DepthSubscribe):
            ret = self._replace_depth(subs, request.data.symbol_list)
        elif isinstance(request, wire.TradeSubscribe):
            ret = self._replace_trades(subs, request.data.symbol_list)
        else:
            kind = request.data.cancel_type
            if kind in (wire.CANCEL_ALL, wire.CANCEL_DEPTH):
                subs.depth = {}
            if kind in (wire.CANCEL_ALL, wire.CANCEL_TRADE):
                subs.trades = {}
        conn.reply(_reply(reply_type, ret, request.seq_id, request.trace))

    def _malformed(
        self, conn: Connection, message: str | bytes, exc: ProviderProtocolError
    ) -> None:
        # Rule MALFORMED.
        try:
            header = _HEADER.decode(message)
        except msgspec.DecodeError:
            header = None
        reply_type = _REPLIES.get(header.cmd_id) if header is not None else None
        if header is None or reply_type is None or not exc.path.startswith("$.data"):
            conn.reply(_reply(wire.HeaderInvalidReply, 400, 0, "", _HEADER_INVALID))
        else:
            conn.reply(_reply(reply_type, 400, header.seq_id, header.trace, _DATA_INVALID))

    def _replace_depth(self, subs: _Subs, symbols: Sequence[wire.DepthSymbol]) -> int:
        # Rule REPLACE; the levels kept per subscriber make rule DEPTH (see _cut).
        kept = self._valid(subs, [s.code for s in symbols])
        levels = {s.code: s.depth_level or 1 for s in symbols}
        subs.depth = {code: levels[code] for code in kept}
        return 600 if symbols and not kept else 200

    def _replace_trades(self, subs: _Subs, symbols: Sequence[wire.TradeSymbol]) -> int:
        kept = self._valid(subs, [s.code for s in symbols])
        subs.trades = dict.fromkeys(kept)
        return 600 if symbols and not kept else 200

    def _valid(self, subs: _Subs, codes: list[str]) -> list[str]:
        # Rule CODE_CAP applies to the list as sent; then rule CODES drops what cannot be served.
        capped = list(dict.fromkeys(codes))[: self.max_codes]
        return [c for c in capped if self._serves(c, subs.endpoint)]

    def _serves(self, code: str, endpoint: str) -> bool:
        """True when ``code`` is served on ``endpoint``, bringing its market in if need be."""
        if wire.endpoint(code) != endpoint:
            return False
        if code in self.codes:
            return True
        shape = _STOCK_CODE if endpoint == "stock" else _FOREX_CODE
        if not shape.match(code):
            return False
        name = instruments.from_alltick(code)
        if isinstance(self.source, ModelSource):  # a recording has only the codes it recorded
            self.source.add(name, _cadence(params_for(name)))
        self.codes[code] = name
        return True

    def _renderer(self, code: str) -> AllTickRenderer:
        renderer = self._renderers.get(code)
        if renderer is None:
            name = self.codes.get(code, code)
            renderer = self._renderers[code] = AllTickRenderer(
                code, depth_levels=_levels(name), forex=_forex(name),
                string_times=self.string_times,
            )  # fmt: skip
        return renderer

    # --- market data ---------------------------------------------------------------------------

    def on_batch(self, batch: Batch) -> None:
        """Render the batch once, then push each frame to the connections subscribed to it."""
        pushes: list[tuple[int, str, str]] = []  # (cmd_id, code, text)
        by_code: dict[str, list[Happening]] = {}
        for item in batch.items:
            if isinstance(item, Generated):
                code = _code(item.instrument)
                by_code.setdefault(code, []).append(item.happening)
            elif isinstance(item, Recorded):
                route = _route(item.data)
                if route is not None:
                    pushes.append((route.cmd_id, route.data.code, item.data))
        for code, happenings in by_code.items():
            for frame in self._renderer(code).render(happenings):
                cmd = 22998 if frame.text.startswith('{"cmd_id":22998') else 22999
                pushes.append((cmd, code, frame.text))
        cut: dict[tuple[str, int], str] = {}
        for conn, subs in list(self._sessions.values()):
            for cmd, code, text in pushes:
                if cmd == 22998 and code in subs.trades:
                    conn.push(text)
                elif cmd == 22999 and code in subs.depth:
                    conn.push(_cut(text, subs.depth[code], cut))


def market_source(
    seed: int, start_ns: int, instruments: Sequence[str] = DEFAULT_INSTRUMENTS
) -> ModelSource:
    """The seeded market model with AllTick's cadences: trades and books, no bars or ticker."""
    params = {name: _cadence(params_for(name)) for name in instruments}
    return ModelSource(instruments, seed, start_ns, params)


def _cadence(params: MarketParams) -> MarketParams:
    return msgspec.structs.replace(params, bar_update_ns=0, ticker_interval_ns=0)


def _code(instrument: str) -> str:
    return instruments.to_alltick(instrument)


def _cmd(request: wire.Request) -> int:
    return int(type(request).__struct_config__.tag)  # type: ignore[arg-type]


def _reply(kind: _ReplyType, ret: int, seq_id: int, trace: str, msg: str = "") -> str:
    text = msg or wire.RET_TEXTS[ret][0]
    return _ENCODER.encode(kind(ret, text, seq_id, trace)).decode("utf-8")


def _route(text: str) -> _Route | None:
    try:
        route = _ROUTE.decode(text)
    except msgspec.DecodeError:
        return None  # a reply or garbage: nothing to route
    return route if route.cmd_id in (22998, 22999) else None


def _cut(text: str, levels: int, cache: dict[tuple[str, int], str]) -> str:
    """The book push cut to ``levels`` per side (each subscriber asked for its own depth)."""
    key = (text, levels)
    if key not in cache:
        push = _BOOK.decode(text)
        book = push.data
        if len(book.bids) <= levels and len(book.asks) <= levels:
            cache[key] = text
        else:
            cut = msgspec.structs.replace(book, bids=book.bids[:levels], asks=book.asks[:levels])
            cache[key] = _ENCODER.encode(wire.OrderBookPush(cut)).decode("utf-8")
    return cache[key]


def _levels(instrument: str) -> int:
    # Documented depth per product: HK 10, A-shares 5, US 1, crypto 5, forex/metals/energy 1.
    if instrument.endswith(".HK"):
        return 10
    if instrument.endswith((".SH", ".SZ")):
        return 5
    if instruments.is_stock(instrument):
        return 1
    return 1 if _forex(instrument) else 5


def _forex(instrument: str) -> bool:
    """Forex, metals, energy: no turnover, direction 0, prices without volumes."""
    if instruments.is_stock(instrument):
        return False
    return instrument.partition("/")[2] not in _CRYPTO_QUOTES
