"""The emulator server under clients that subscribe and never read: its memory must stay flat.

Run by hand (never in CI):  .venv/bin/python bench/slow_clients.py [--clients 20] [--seconds 60]

It starts ``papertrade serve alltick`` as a real process (fast market time, so every client's
share of pushes is large), connects ``--clients`` WebSocket clients over loopback that subscribe
to trades and a 5-level book and then never read a frame, and samples the server's resident
memory (``VmRSS`` of the server process) every few seconds for ``--seconds``. A bounded server
closes each such client with 1008 once its send queue is full and gives the memory back;
an unbounded one grows for as long as the clients stay. It prints the samples, the close codes
the clients saw, and whether the memory stayed flat (the last third's peak within 25 % of the
peak of the first sample after every client had subscribed).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from framework.emulators import alltick
from framework.providers.alltick import AllTickCodec
from framework.providers.base import Subscription

SUBS = (Subscription("book", "BTCUSDT", 5), Subscription("trades", "BTCUSDT"))


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


async def silent_client(url: str, closes: list[object], stop: trio.Event) -> None:
    """Subscribe, then never read: trio-websocket stops reading once its 1-message queue fills."""
    codec = AllTickCodec()
    try:
        async with open_websocket_url(
            codec.url(list(SUBS), url, alltick.DEFAULT_TOKEN), message_queue_size=1
        ) as ws:
            for frame in codec.subscribe(list(SUBS)):
                await ws.send_message(frame)
                await trio.sleep(1.2)  # AllTick's request spacing
            await stop.wait()
            closes.append(ws.closed.code if ws.closed else "open at the end")
    except ConnectionClosed as exc:
        closes.append(exc.reason.code)
    except OSError as exc:
        closes.append(type(exc).__name__)


async def measure(clients: int, seconds: float, speed: float) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "framework", "serve", "alltick", "--speed", str(speed), "--quiet"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        first = next(w for w in server.stdout.readline().split() if w.startswith("ws://"))
        parts = urlsplit(first)
        url = f"{parts.scheme}://{parts.netloc}"
        closes: list[object] = []
        stop = trio.Event()
        samples: list[tuple[float, float]] = []
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(silent_client, url, closes, stop)
            start = trio.current_time()
            while (elapsed := trio.current_time() - start) < seconds:
                samples.append((elapsed, rss_mb(server.pid)))
                await trio.sleep(5)
            samples.append((trio.current_time() - start, rss_mb(server.pid)))
            stop.set()
    finally:
        server.terminate()
        server.wait(10)
    print(f"{clients} clients that never read, {seconds:g} s, market speed x{speed:g}")
    for t, mb in samples:
        print(f"  t={t:5.1f} s   server RSS {mb:7.1f} MB")
    codes: dict[str, int] = {}
    for code in closes:
        codes[str(code)] = codes.get(str(code), 0) + 1
    print(
        "  clients closed by the server: "
        + ", ".join(f"{k} x{v}" for k, v in sorted(codes.items()))
    )
    settled = [mb for t, mb in samples if t >= 5]
    base = settled[0] if settled else samples[0][1]
    tail = [mb for t, mb in samples if t >= 2 * seconds / 3] or [samples[-1][1]]
    flat = max(tail) <= base * 1.25
    print(f"  memory flat (last third's peak {max(tail):.1f} MB vs {base:.1f} MB at 5 s): {flat}")
    print(f"  load average {os.getloadavg()[0]:.2f} at the end")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--speed", type=float, default=200.0, help="Market seconds per second.")
    args = parser.parse_args()
    trio.run(measure, args.clients, args.seconds, args.speed)


if __name__ == "__main__":
    main()
