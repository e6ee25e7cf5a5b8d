"""The live dashboard's server: a Starlette app served by Hypercorn inside the run's trio loop.

``GET /`` is the page (``page.py``); ``GET /events`` streams server-sent events, one JSON
message per :data:`~framework.dashboard.board.SAMPLE_S` at most; ``GET /snapshot`` is the
latest message, for scripts. The app only reads the :class:`~framework.dashboard.board.Board`;
the sampling task (:func:`serve_dashboard`) is the only thing that touches the engine, between
two batches of the loop. Hypercorn's trio worker runs in the run's nursery, so the dashboard
costs the loop nothing while no one is looking and a few snapshots a second while someone is.
Loopback only unless the user names another host.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Final

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from framework.dashboard.board import SAMPLE_S, Board
from framework.errors import ConfigError

__all__ = ["DEFAULT_HOST", "RETRY_MS", "STREAM_S", "make_app", "parse_address", "serve_dashboard"]

DEFAULT_HOST: Final = "127.0.0.1"
_GRACE_S: Final = 1.0  # how long open event streams get to close when the run ends
STREAM_S: Final = 3.0  # an event stream lasts this long; the browser then resumes it
RETRY_MS: Final = 200  # and reconnects after this many milliseconds


def parse_address(text: str) -> tuple[str, int]:
    """``[HOST:]PORT`` -> (host, port); loopback when no host is given.

    Raises:
        ConfigError: the port is not a number from 0 to 65535, or the host is empty.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep:
        host = DEFAULT_HOST
    host = host.strip("[]")  # [::1]:8000
    if not host:
        raise ConfigError(f"--dashboard {text!r}: the host before ':' is empty")
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65_535:
        raise ConfigError(f"--dashboard {text!r}: expected [HOST:]PORT with a port 0-65535")
    return host, int(port_text)


def make_app(board: Board, page: str, closing: trio.Event) -> Starlette:
    """The ASGI app over ``board``; event streams end when ``closing`` is set."""

    async def index(_: Request) -> HTMLResponse:
        return HTMLResponse(page)

    async def snapshot(_: Request) -> JSONResponse:
        message, _sent = board.payload(-1, 0)
        return JSONResponse(message)

    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(
            _stream(board, closing, _resume_from(request.headers.get("last-event-id", ""))),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return Starlette(
        routes=[
            Route("/", index),
            Route("/events", events),
            Route("/snapshot", snapshot),
        ]
    )


async def serve_dashboard(
    board: Board,
    host: str,
    port: int,
    title: str,
    announce: Callable[[str], None],
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Sample the board and serve the dashboard until cancelled; ``announce`` gets its URL.

    Raises:
        ConfigError: the address cannot be bound (in use, or not this machine's).
    """
    from framework.dashboard.page import render_page

    page = render_page(title)
    closing = trio.Event()
    config = HypercornConfig()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    config.graceful_timeout = _GRACE_S
    config.accesslog = None
    config.errorlog = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sample, board)
        try:
            app = make_app(board, page, closing)
            binds = await nursery.start(partial(serve, app, config, shutdown_trigger=closing.wait))  # type: ignore[arg-type]
        except OSError as exc:
            raise ConfigError(f"--dashboard {host}:{port}: cannot listen: {exc.strerror}") from exc
        url = f"{binds[0]}/" if binds else f"http://{host}:{port}/"
        announce(f"dashboard at {url}")
        task_status.started(url)
        try:
            await trio.sleep_forever()
        finally:
            closing.set()


async def _sample(board: Board) -> None:
    while True:
        board.sample()
        await trio.sleep(SAMPLE_S)


async def _stream(board: Board, closing: trio.Event, resume: tuple[int, int]) -> AsyncIterator[str]:
    """One event stream: a message every SAMPLE_S for STREAM_S, then the browser reconnects.

    Each message's id is ``generation:points``; a reconnecting browser sends it back as
    Last-Event-ID and gets only what it lacks. Bounded streams let the server close cleanly
    and keep no connection open for long (a headless browser's virtual time waits on them).
    """
    generation, sent = resume
    yield f"retry: {RETRY_MS}\n\n"
    deadline = trio.current_time() + STREAM_S
    while not closing.is_set() and trio.current_time() < deadline:
        message, sent = board.payload(generation, sent)
        generation = message["generation"]
        text = json.dumps(message, separators=(",", ":"))
        yield f"id: {generation}:{sent}\ndata: {text}\n\n"
        with trio.move_on_after(SAMPLE_S):
            await closing.wait()


def _resume_from(last_event_id: str) -> tuple[int, int]:
    """(generation, points) from a Last-Event-ID; (-1, 0), the whole series, if unreadable."""
    generation, _, sent = last_event_id.partition(":")
    try:
        return int(generation), max(0, int(sent))
    except ValueError:
        return -1, 0
