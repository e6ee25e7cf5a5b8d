"""The providers' own code samples, run as they are against ``papertrade serve``.

Each sample is in ``samples/``, copied from its page in ``shared/seeds/`` (each file's header
names the page section). A test starts ``papertrade serve PROVIDER`` as a real process, takes
the WebSocket URL from its first line, changes the one line of the sample that names the
provider's host to that URL, runs the sample as a real process for a few seconds, and checks
what it printed. Nothing else of a sample changes, with two exceptions, each said where it
happens: the Node sample's quoting bug is fixed on that same line, and the Go sample, which
the page shows without ``func main``, gets one in a second file.

The Cryptomus samples only ping, every 50 s; so that their pongs come within seconds, their
timers run 25 times faster (``asyncio.sleep`` and ``setInterval`` scaled by a preload, the
sample's own source untouched).

The Go sample builds offline with Debian's golang-go, golang-github-gorilla-websocket-dev and
golang-github-google-uuid-dev (GOPATH mode, GOPROXY=off: no module is downloaded); the Node
sample runs on Debian's nodejs with node-ws. ``.ci/run`` installs them when missing; on a
developer's machine without them those two tests skip, saying what is missing, and under CI
(``CI`` set) they fail instead, so that a missing install cannot pass for a green run.
"""

from __future__ import annotations

import ast
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

SAMPLES = Path(__file__).parent / "samples"
GOPATH = Path("/usr/share/gocode")
NODE_PATH = "/usr/share/nodejs:/usr/lib/nodejs"
SPEED_UP = 25  # the Cryptomus samples' timers: 50 s pings come every 2 s
PONG = '{"id":0,"method":"pong","data":null,"error":null}'  # the page's documented pong


class Served:
    """A running ``papertrade serve``: its WebSocket base URL and, once stopped, its log."""

    def __init__(self, proc: subprocess.Popen[str], base: str) -> None:
        self.proc, self.base = proc, base
        self.log = ""


@contextmanager
def serve(provider: str, *options: str) -> Iterator[Served]:
    """``papertrade serve PROVIDER`` as a process; stopped with Ctrl-C (exit 0) afterwards."""
    cmd = [sys.executable, "-m", "framework", "serve", provider, "--seed", "1", *options]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        banner = _line(proc, deadline=time.monotonic() + 30)
        match = re.search(r"ws://127\.0\.0\.1:\d+", banner)
        assert match, banner
        served = Served(proc, match.group(0))
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, served_log = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, served_log = proc.communicate()
    served.log = served_log
    assert proc.returncode == 0, served_log


def run_sample(
    cmd: list[str], seconds: float, cwd: Path, env: dict[str, str] | None = None
) -> tuple[str, str]:
    """Run a sample for ``seconds``, then stop it: what it printed (stdout, stderr)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=full_env
    )
    try:
        out, err = proc.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=15)
    else:
        pytest.fail(f"the sample stopped by itself ({proc.returncode}):\n{out}\n{err}")
    return out, err


def hosted(sample: str, old: str, new: str, tmp_path: Path, name: str = "") -> Path:
    """The sample with its one host line changed (``old`` to ``new``), written to ``tmp_path``."""
    source = (SAMPLES / sample).read_text()
    lines = source.splitlines(keepends=True)
    note = next(i for i, line in enumerate(lines) if not line.startswith(("#", "//")))
    changed = [i for i, line in enumerate(lines) if old in line and i >= note]
    assert len(changed) == 1, f"{sample}: {old!r} is on lines {changed}, not on exactly one"
    lines[changed[0]] = lines[changed[0]].replace(old, new)
    path = tmp_path / (name or sample)
    path.write_text("".join(lines))
    return path


def missing(what: str) -> None:
    """Skip for want of a toolchain, or fail under CI, where .ci/run must have installed it."""
    message = f"{what} missing; .ci/run installs it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _line(proc: subprocess.Popen[str], deadline: float) -> str:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
    if not ready:
        proc.kill()
        pytest.fail(f"papertrade serve printed nothing: {proc.communicate()[1]}")
    return proc.stdout.readline()


def _json_lines(text: str, prefix: str) -> list[dict[str, Any]]:
    return [json.loads(line.split(prefix, 1)[1]) for line in text.splitlines() if prefix in line]


# --- Finazon -------------------------------------------------------------------------------------


def test_the_finazon_python_sample_receives_btc_usdt_bars(tmp_path: Path) -> None:
    with serve("finazon") as served:
        sample = hosted(
            "finazon_ws_example.py", "wss://ws.finazon.io/v1", f"{served.base}/v1", tmp_path
        )
        out, err = run_sample([sys.executable, str(sample)], 5, tmp_path)
    lines = out.splitlines()
    assert lines[0] == "Connection is opened", (out, err)
    assert lines[1] == (
        'Message: {"status":"success","code":"SUCCESS_SUBSCRIPTION","data":["BTC/USDT"]}'
    )
    bars = _json_lines(out, "Message: ")[1:]
    assert len(bars) >= 3, out  # one a second ("frequency": "1s")
    for bar in bars:
        assert {k: bar[k] for k in ("d", "ch", "f", "aggr", "s")} == {
            "d": "kucoin", "ch": "bars", "f": "1s", "aggr": "1m", "s": "BTC/USDT",
        }  # fmt: skip
        assert bar["t"] % 60 == 0  # the bar's open, in seconds
        assert bar["l"] <= min(bar["o"], bar["c"]) <= max(bar["o"], bar["c"]) <= bar["h"]
        assert 100_000 < bar["c"] < 115_000  # the BTC/USDT market starts at 107,100
    assert "Error" not in out
    assert "finazon #1 broke 'placeholder key'" in served.log


# --- AllTick -------------------------------------------------------------------------------------


def test_the_alltick_python_sample_receives_700_hk_and_unh_us_books(tmp_path: Path) -> None:
    with serve("alltick") as served:
        host = "quote-stock-b-ws-api?token=testtoken"
        sample = hosted(
            "alltick_websocket_example.py", f"wss://quote.alltick.io/{host}",
            f"{served.base}/{host}", tmp_path,
        )  # fmt: skip
        out, err = run_sample([sys.executable, str(sample)], 5, tmp_path)
    lines = out.splitlines()
    assert lines[:2] == ["A new WebSocketApp is opened!", "depth quote are subscribed!"], err
    printed = [ast.literal_eval(line) for line in lines[2:]]  # the sample prints eval(message)
    assert printed[0] == {
        "ret": 200, "msg": "ok", "cmd_id": 22003, "seq_id": 123,
        "trace": "3baaa938-f92c-4a74-a228-fd49d5e2f8bc-1678419657806", "data": {},
    }  # fmt: skip
    books = [p["data"] for p in printed[1:]]
    assert {p["cmd_id"] for p in printed[1:]} == {22999}
    assert {b["code"] for b in books} == {"700.HK", "UNH.US"}
    for book in books:
        # depth_level 5; a HK stock has 10 levels, a US stock 1 (protocols.md 1.7)
        levels = 5 if book["code"] == "700.HK" else 1
        assert (len(book["bids"]), len(book["asks"])) == (levels, levels)
        best_bid, best_ask = Decimal(book["bids"][0]["price"]), Decimal(book["asks"][0]["price"])
        assert best_bid < best_ask
        low, high = (1, 500) if book["code"] == "700.HK" else (10, 500)
        assert low <= best_bid <= high
        assert Decimal(book["bids"][0]["volume"]) > 0
    assert "alltick #1 broke 'placeholder token'" in served.log


def build_go(sample: Path) -> Path:
    """The Go sample built offline against Debian's Go packages (see the module docstring)."""
    go = shutil.which("go")
    libs = [GOPATH / "src/github.com/gorilla/websocket", GOPATH / "src/github.com/google/uuid"]
    absent = [str(p) for p in libs if not p.is_dir()]
    if go is None or absent:
        missing(f"the Go toolchain or packages ({go=}, {absent=})")
    # The page shows no func main: the one line it needs, in a file of its own.
    (sample.parent / "run.go").write_text("package main\n\nfunc main() { websocket_example() }\n")
    env = {
        **os.environ, "GO111MODULE": "off", "GOPATH": str(GOPATH), "GOFLAGS": "",
        "GOPROXY": "off", "CGO_ENABLED": "0",
    }  # fmt: skip
    binary = sample.parent / "alltick-sample"
    result = subprocess.run(
        [go, "build", "-o", str(binary), sample.name, "run.go"],
        cwd=sample.parent, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return binary


def test_the_alltick_go_sample_receives_gold_and_usdjpy_trades_and_books(tmp_path: Path) -> None:
    with serve("alltick") as served:
        host = "quote-b-ws-api?token=testtoken"
        sample = hosted(
            "alltick_websocket_example.go", f"wss://quote.alltick.io/{host}",
            f"{served.base}/{host}", tmp_path, "main.go",
        )  # fmt: skip
        binary = build_go(sample)
        _, err = run_sample([str(binary)], 5, tmp_path)
    got = _json_lines(err, "Received message: ")
    replies = [g for g in got if "ret" in g]
    # 22002 and 22004 back to back, both served; AAPL.US and 700.HK belong to the stock URL.
    assert [(r["cmd_id"], r["ret"]) for r in replies] == [(22003, 200), (22005, 200)], err
    pushes = [g for g in got if "ret" not in g]
    assert {(p["cmd_id"], p["data"]["code"]) for p in pushes} == {
        (22998, "GOLD"), (22998, "USDJPY"), (22999, "GOLD"), (22999, "USDJPY"),
    }  # fmt: skip
    for push in pushes:
        data = push["data"]
        price = Decimal(data["price"] if push["cmd_id"] == 22998 else data["bids"][0]["price"])
        low, high = (2000, 2700) if data["code"] == "GOLD" else (140, 160)
        assert low < price < high
        if push["cmd_id"] == 22998:  # metals and forex: no turnover, direction 0
            assert "turnover" not in data and data["trade_direction"] == 0
    assert "alltick #1 broke '1 s between any two requests'" in served.log


# --- Cryptomus -----------------------------------------------------------------------------------

FAST_ASYNCIO = f"""
import asyncio, runpy, sys
_sleep = asyncio.sleep
async def _fast(delay, result=None):
    return await _sleep(delay / {SPEED_UP}, result)
asyncio.sleep = _fast
runpy.run_path(sys.argv[1], run_name="__main__")
"""
FAST_NODE = f"""
const setInterval_ = global.setInterval;
global.setInterval = (fn, ms, ...args) => setInterval_(fn, ms / {SPEED_UP}, ...args);
"""


def _pongs(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith("Received:")]


def test_the_cryptomus_python_sample_gets_pongs(tmp_path: Path) -> None:
    with serve("cryptomus") as served:
        sample = hosted(
            "cryptomus_ws_example.py", "wss://api-ws.cryptomus.com", served.base, tmp_path
        )
        out, err = run_sample([sys.executable, "-c", FAST_ASYNCIO, str(sample)], 5, tmp_path)
    assert out.splitlines()[0] == "Connected to Cryptomus WebSocket", err
    pongs = _pongs(out)
    assert pongs and set(pongs) == {f"Received: {PONG}"}, out
    assert "cryptomus handshake broke 'placeholder token'" in served.log


def test_the_cryptomus_node_sample_with_its_quoting_fixed_gets_pongs(tmp_path: Path) -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None or not any(Path(p, "ws").is_dir() for p in NODE_PATH.split(":")):
        missing("nodejs or node-ws")
    with serve("cryptomus") as served:
        # The one line changed: the host, and the page's quoting bug (single quotes around a
        # template string, so ${this.token} stayed as it is) fixed with backticks.
        sample = hosted(
            "cryptomus_ws_example.js",
            "'wss://api-ws.cryptomus.com/ws?token=${this.token}'",
            f"`{served.base}/ws?token=${{this.token}}`",
            tmp_path,
        )
        (tmp_path / "fast.js").write_text(FAST_NODE)
        out, err = run_sample(
            [node, "--require", str(tmp_path / "fast.js"), str(sample)], 5, tmp_path,
            env={"NODE_PATH": NODE_PATH},
        )  # fmt: skip
    assert out.splitlines()[0] == "Connected to Cryptomus WebSocket", err
    pongs = _pongs(out)
    assert pongs and set(pongs) == {f"Received: {PONG}"}, out
    assert "cryptomus handshake broke 'placeholder token'" in served.log
