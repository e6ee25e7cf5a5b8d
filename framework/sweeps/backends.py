"""Backends: where a sweep's run specs execute. Each only executes specs and streams results.

* :class:`InProcess`: this process, one point after the other (``--workers 1``).
* :class:`LocalPool`: a pool of worker processes on this machine (``--workers N``). Points are
  handed out one at a time, so a slow point does not hold up the others; each worker process
  keeps the recordings it read (``worker.load_recording``), so it reads each once however many
  points it runs. Workers are started with ``spawn``: a clean interpreter that imports
  papertrade, safe whatever threads the parent runs.
* :class:`RayBackend`: Ray tasks (``--backend ray``, the ``ray`` extra). Each recording is put
  in Ray's object store once per sweep; a worker fetches it on its first point, writes it to
  its scratch folder and builds that copy's decoded cache there. Strategy and config files are
  read by path, so on a real cluster they must be at the same path on every node (shared
  storage, or Ray's ``runtime_env`` working directory). Results stream back as tasks finish.
  Ray schedules; we do not. Workers' scratch folders go in one temporary folder per backend,
  removed when the backend stops a Ray instance it started; on a cluster (or a Ray instance
  the caller started) they stay in each node's temporary folder (``papertrade-ray-*``) until
  removed there.

A backend is a context manager: workers (and their cached recordings) live until it closes, so
walk-forward folds and Optuna's rounds reuse them.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Protocol

from framework.errors import ConfigError
from framework.sweeps.spec import PointResult, RunSpec
from framework.sweeps.worker import ray_point, run_spec

__all__ = ["Backend", "InProcess", "LocalPool", "RayBackend", "default_workers", "make_backend"]


class Backend(Protocol):
    """Runs specs; yields each result as it finishes (in any order)."""

    def run(self, specs: Sequence[RunSpec]) -> Iterator[PointResult]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Backend: ...

    def __exit__(self, *exc: object) -> None: ...


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_backend(name: str, workers: int | None, address: str | None) -> Backend:
    """``local`` (in-process for one worker, else a pool) or ``ray``.

    Raises:
        ConfigError: an unknown backend, a worker count below 1, ``--address`` without Ray,
            or Ray asked for and not installed.
    """
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if name == "ray":
        return RayBackend(address, workers)
    if name != "local":
        raise ConfigError(f"unknown backend {name!r}; use local or ray")
    if address is not None:
        raise ConfigError("--address is for --backend ray")
    count = workers or default_workers()
    return InProcess() if count == 1 else LocalPool(count)


class _Base:
    def __enter__(self) -> Backend:
        return self  # type: ignore[return-value]

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (a no-op for the in-process backend)."""


class InProcess(_Base):
    """Runs every point in this process, in order."""

    workers = 1

    def run(self, specs: Sequence[RunSpec]) -> Iterator[PointResult]:
        for spec in specs:
            yield run_spec(spec)


class LocalPool(_Base):
    """A pool of ``workers`` processes on this machine."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

    def run(self, specs: Sequence[RunSpec]) -> Iterator[PointResult]:
        # Keep a few points queued per worker, not the whole sweep: a Ctrl-C then has little
        # to cancel, and results stream back while points are still being handed out.
        todo = iter(specs)
        pending: dict[Future[PointResult], RunSpec] = {}
        self._top_up(todo, pending)
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                spec = pending.pop(future)
                yield _result_of(future, spec)
            self._top_up(todo, pending)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _top_up(self, todo: Iterator[RunSpec], pending: dict[Future[PointResult], RunSpec]) -> None:
        while len(pending) < 2 * self.workers:
            spec = next(todo, None)
            if spec is None:
                return
            pending[self._pool.submit(run_spec, spec)] = spec


class RayBackend(_Base):
    """Ray tasks, on the cluster at ``address`` or on a Ray instance started here.

    If Ray is already initialised in this process (a notebook, a test), that instance is used
    and left running; otherwise ``address`` (``auto``, ``ray://HOST:PORT``) is connected to,
    or, without one, a local instance with ``workers`` CPUs is started on loopback and stopped
    when the backend closes.
    """

    def __init__(self, address: str | None, workers: int | None) -> None:
        if address is None and "ray" not in sys.modules:
            # Ray turns token authentication on for a cluster it starts, and warns on stderr
            # unless RAY_AUTH_MODE says so explicitly (docs.ray.io, ray-security/token-auth):
            # say it, keeping Ray's default, unless the user chose otherwise. Ray reads it
            # when it is imported.
            os.environ.setdefault("RAY_AUTH_MODE", "token")
        try:
            import ray as ray_module
        except ImportError:
            raise ConfigError("--backend ray needs Ray: pip install 'papertrade[ray]'") from None
        ray: Any = ray_module
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                options.update(num_cpus=workers or default_workers(), _node_ip_address="127.0.0.1")
            try:
                ray.init(address=address, logging_level="warning", **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(
                    f"cannot start or reach Ray at {address or 'local'}: {exc}"
                ) from exc
            self._owned = True
        self.workers = int(ray.cluster_resources().get("CPU", 1))
        self._task = ray.remote(num_cpus=1, max_retries=0)(ray_point)
        self._shipped: dict[str, Any] = {}  # recording hash -> its bytes in the object store
        # the workers' scratch folders, on each node (removed here for an instance started here)
        self._scratch = tempfile.mkdtemp(prefix="papertrade-ray-")
        self._local = self._owned and address is None

    def run(self, specs: Sequence[RunSpec]) -> Iterator[PointResult]:
        ray = self._ray
        for spec in specs:
            if spec.recording_sha256 not in self._shipped:
                data = Path(spec.recording).read_bytes()
                self._shipped[spec.recording_sha256] = ray.put(data)
        pending = {
            self._task.remote(
                spec, {spec.recording_sha256: self._shipped[spec.recording_sha256]}, self._scratch
            ): spec
            for spec in specs
        }
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                spec = pending.pop(ref)
                try:
                    yield ray.get(ref)
                except Exception as exc:  # the worker died, or Ray lost the task
                    yield PointResult(index=spec.index, error=f"Ray: {type(exc).__name__}: {exc}")

    def close(self) -> None:
        self._shipped.clear()
        if self._owned:
            self._ray.shutdown()
        if self._local:  # its workers have ended
            shutil.rmtree(self._scratch, ignore_errors=True)


def _result_of(future: Future[PointResult], spec: RunSpec) -> PointResult:
    try:
        return future.result()
    except Exception as exc:  # the worker process died (killed, out of memory)
        return PointResult(index=spec.index, error=f"worker failed: {type(exc).__name__}: {exc}")
