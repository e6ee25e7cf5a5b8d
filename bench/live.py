"""Live throughput: frames per second a session and the loop sustain, and their latency.

Run by hand (never in CI):  .venv/bin/python bench/live.py [--seconds 30] [--rates 10000,...]

A pusher in a child process (so that it does not share our CPU) speaks just enough of the
AllTick WebSocket (the opening handshake; it ignores what the client sends) to push ``22998``
trade frames at a fixed rate over loopback, a millisecond's worth at a time, for ``--seconds``.
In this process a real live session (``framework.live.runner.stream``, the code ``papertrade
run --live`` runs) connects to it and feeds the loop, with a strategy whose ``on_trade`` notes
``time.time_ns() - trade.ts_recv_ns``: the receive-to-callback latency, from the session's
stamp to the strategy.

For each rate it reports frames sent and delivered, the latency p50/p99, and whether the rate
was **sustained**: the pusher kept its pace (a client that falls behind slows it through TCP
backpressure, and the kernel's buffers hide that backlog from the latency), every frame was
delivered within 1 s of the pusher stopping, and the p99 latency of the last third of the run
stayed under 50 ms. Targets: at least 50,000 frames/s sustained; p99 under 1 ms at 10,000/s.

``--dashboard``, ``--db`` and ``--record`` measure the run as ``papertrade run --live
--dashboard 0 --db FILE --record FILE`` runs it (``framework.live.runner.run_live``): the
dashboard served in the same trio loop with a browser-like client in a child process reading
its event stream the whole time, the run database committed and the recording flushed every
half second.

The last column is this process's CPU time per frame delivered (the session, the loop and,
with the options, the dashboard, database and recording; not the pusher or the viewer): what a
frame costs here, which a loaded machine changes far less than the rates it sustains. At the
end of each rate the pusher waits for the session's close and answers it, so the session ends
cleanly, as a stopped run does.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from typing import Any

import trio
import wsproto
from wsproto.events import AcceptConnection, CloseConnection, Request, TextMessage

from framework.config import Config, ProviderConfig
from framework.events import Trade
from framework.live.runner import run_live, stream
from framework.live.session import WallClock
from framework.providers.base import Subscription
from framework.recording import ProviderSpec
from framework.run import RunSetup, build
from framework.strategy import Strategy

TOKEN = "bench-token-0123456789"
CODE = "BTCUSDT"
# Trades are stamped near the wall clock: market data more than a day from its receive time is
# dropped by the codecs' rule set (framework.providers.validation).
T0_MS = time.time_ns() // 1_000_000
POOL = 997  # distinct frames cycled through (a prime, so seq and price do not repeat in step)
BEHIND_MS = 50.0


# --- the pusher (child process) ----------------------------------------------------------------


def pusher(rate: int, seconds: float) -> None:
    """Listen on an ephemeral port, print it, accept one client, push ``rate`` frames/s."""
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    conn, _ = server.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    ws = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    while not any(isinstance(e, Request) for e in _events(ws, conn)):
        pass
    conn.sendall(ws.send(AcceptConnection()))
    frames = [ws.send(TextMessage(data=_frame(i))) for i in range(POOL)]
    conn.setblocking(True)
    start = time.monotonic()
    sent = 0
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            due = int(elapsed * rate) + 1 - sent
            if due > 0:
                conn.sendall(b"".join(frames[(sent + k) % POOL] for k in range(due)))
                sent += due
            time.sleep(0.0005)
    except (BrokenPipeError, ConnectionResetError):
        pass  # the client gave up; what was sent still counts, and "sustained" will say no
    # Frames handed to the kernel, and the seconds the pushing took (more than asked for when
    # TCP backpressure from a client that fell behind slowed the pusher down).
    print(sent, round(time.monotonic() - start, 3), flush=True)
    _close_when_asked(ws, conn)


def _close_when_asked(ws: wsproto.WSConnection, conn: socket.socket) -> None:
    """Wait for the client's close and answer it: the session ends cleanly, as it does when a
    run stops (a server that just drops the socket is a fault, and the session reconnects)."""
    conn.settimeout(30.0)
    try:
        while data := conn.recv(65536):
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, CloseConnection):
                    conn.sendall(ws.send(event.response()))
                    return
    except OSError:
        pass
    finally:
        conn.close()


def _events(ws: wsproto.WSConnection, conn: socket.socket) -> list[Any]:
    ws.receive_data(conn.recv(65536))
    return list(ws.events())


def _frame(i: int) -> str:
    price = 107_000 + (i % 200) * 0.5
    return (
        f'{{"cmd_id":22998,"data":{{"code":"{CODE}","seq":{i},"tick_time":{T0_MS + i % 1000},'
        f'"price":"{price:.1f}","volume":"0.01","turnover":"{price * 0.01:.3f}",'
        f'"trade_direction":{1 + i % 2}}}}}'
    )


# --- the client (this process) -----------------------------------------------------------------


class Stopwatch(Strategy):
    """Notes the receive-to-callback latency of every trade, in ns."""

    trade_history = 0
    bar_history = 0
    latencies = array("q")

    def on_trade(self, trade: Trade) -> None:
        self.latencies.append(time.time_ns() - trade.ts_recv_ns)


def watcher(url: str) -> None:
    """A dashboard viewer: read the event stream until killed, reconnecting as a browser does."""
    from http.client import HTTPException
    from urllib.request import urlopen

    while True:
        try:
            with urlopen(url + "events") as stream:  # loopback only
                while stream.read(65536):
                    pass
        except (OSError, HTTPException):
            time.sleep(0.2)


async def measure(
    rate: int, seconds: float, dashboard: bool = False, db: bool = False, record: bool = False
) -> dict[str, Any]:
    Stopwatch.latencies = array("q")
    cpu = time.process_time()
    child = subprocess.Popen(
        [sys.executable, __file__, "--pusher", str(rate), str(seconds)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert child.stdout is not None
    port = int(child.stdout.readline())
    provider = ProviderConfig(
        name="alltick", subscriptions=(Subscription("trades", CODE),),
        host=f"ws://127.0.0.1:{port}", key=TOKEN, options={"plan": "pro"}, stale_after_s=3600,
    )  # fmt: skip
    pushed: list[str] = []
    if dashboard or db or record:
        await _measure_full_run(provider, child, seconds, pushed, dashboard, db, record)
    else:
        setup = RunSetup(strategies=(Stopwatch,), strategy_sources={}, config=Config(), seed=1)
        spec = ProviderSpec(provider.name, provider.subscriptions, dict(provider.options))
        with tempfile.TemporaryDirectory() as out:
            engine, output = build(setup, (spec,), out)
            stop = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_stop_when_done, child, stop, seconds, pushed)
                await stream(
                    [provider], engine.process, clock=WallClock(), stop=stop, handle_signals=False
                )
            engine.finish()
            output.close()
    child.wait()
    cpu = time.process_time() - cpu
    fields = (pushed[0] if pushed else "").split()
    sent = int(fields[0]) if fields else 0
    took = float(fields[1]) if len(fields) > 1 else float("inf")
    return _report(rate, seconds, sent, took, Stopwatch.latencies, cpu)


async def _measure_full_run(
    provider: ProviderConfig,
    child: subprocess.Popen[str],
    seconds: float,
    pushed: list[str],
    dashboard: bool,
    db: bool,
    record: bool,
) -> None:
    """The same session through run_live, with the dashboard watched, the database on and the
    session recorded, as asked."""
    config = Config(providers=(provider,))
    setup = RunSetup(strategies=(Stopwatch,), strategy_sources={}, config=config, seed=1)
    viewers: list[subprocess.Popen[bytes]] = []

    def echo(line: str) -> None:
        if line.startswith("dashboard at "):
            url = line.removeprefix("dashboard at ").strip()
            viewers.append(subprocess.Popen([sys.executable, __file__, "--watch", url]))

    with tempfile.TemporaryDirectory() as out:
        stop = trio.Event()
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_stop_when_done, child, stop, seconds, pushed)
                await run_live(
                    setup, out, stop=stop, handle_signals=False, echo=echo,
                    db=f"{out}/runs.db" if db else None,
                    record_path=f"{out}/recording.jsonl" if record else None,
                    dashboard=("127.0.0.1", 0) if dashboard else None,
                )  # fmt: skip
        finally:
            for viewer in viewers:
                viewer.kill()
                viewer.wait()


async def _stop_when_done(
    child: subprocess.Popen[str], stop: trio.Event, seconds: float, pushed: list[str]
) -> None:
    """Stop the session 1 s after the pusher finished (or 10 s past its run, whatever comes)."""
    assert child.stdout is not None
    with trio.move_on_after(seconds + 10.0):
        pushed.append(await trio.to_thread.run_sync(child.stdout.readline, abandon_on_cancel=True))
        await trio.sleep(1.0)  # deliver what is still in flight
    stop.set()


def _report(
    rate: int, seconds: float, sent: int, took: float, latencies: array[int], cpu: float
) -> dict[str, Any]:
    got = len(latencies)
    ms = [x / 1e6 for x in latencies]
    tail = sorted(ms[2 * got // 3 :]) or [0.0]
    everything = sorted(ms) or [0.0]
    return {
        "rate": rate,
        "sent": sent,
        "delivered": got,
        "p50_ms": statistics.median(everything),
        "p99_ms": everything[int(0.99 * (len(everything) - 1))],
        "tail_p99_ms": tail[int(0.99 * (len(tail) - 1))],
        # this process's CPU time (the session, the loop, the dashboard; not the children) per
        # frame delivered: what a frame costs, whatever else the machine is doing
        "cpu_us": cpu / got * 1e6 if got else float("nan"),
        # TCP backpressure slows a pusher whose client falls behind: it must keep its pace too.
        "sustained": got >= sent >= 0.99 * rate * seconds
        and took < seconds * 1.05
        and tail[int(0.99 * (len(tail) - 1))] < BEHIND_MS,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rates", default="10000,20000,30000,40000,50000,60000,80000,100000")
    parser.add_argument("--dashboard", action="store_true", help="serve and watch the dashboard")
    parser.add_argument("--db", action="store_true", help="write the run database")
    parser.add_argument("--record", action="store_true", help="record the session")
    parser.add_argument("--pusher", nargs=2, metavar=("RATE", "SECONDS"), help=argparse.SUPPRESS)
    parser.add_argument("--watch", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pusher:
        pusher(int(args.pusher[0]), float(args.pusher[1]))
        return
    if args.watch:
        watcher(args.watch)
        return
    if args.dashboard:  # import Bokeh and build a page once, before anything is timed
        from framework.dashboard.page import render_page

        render_page("warm-up")
    best = 0
    print(f"{'rate/s':>8} {'sent':>9} {'delivered':>9} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'tail p99':>8} {'cpu us/f':>8}  sustained")  # fmt: skip
    for rate in (int(r) for r in args.rates.split(",")):
        r = trio.run(measure, rate, args.seconds, args.dashboard, args.db, args.record)
        print(f"{r['rate']:>8} {r['sent']:>9} {r['delivered']:>9} {r['p50_ms']:>8.3f} "
              f"{r['p99_ms']:>8.3f} {r['tail_p99_ms']:>8.3f} {r['cpu_us']:>8.2f}  {r['sustained']}",
              flush=True)  # fmt: skip
        if r["sustained"]:
            best = max(best, rate)
    print(f"highest rate sustained for {args.seconds:g} s: {best} frames/s (target 50000)")


if __name__ == "__main__":
    main()
