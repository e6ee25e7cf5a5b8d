"""The pytest plugin papertrade installs (entry point ``pytest11``): on wherever it is installed.

* the ``papertrade`` fixture: ``papertrade.run(Strategy, source, ...)`` is
  :func:`framework.testing.run_strategy` writing under the test's own ``tmp_path``;
* ``--papertrade-update-golden``: every ``result.assert_matches_golden(folder)`` in the session
  writes its folder instead of comparing (review the diff, then commit it).

Relative golden folders are taken from pytest's rootdir, so a test finds ``tests/golden/sma``
wherever pytest was started from. The plugin only registers the option and the fixture.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from framework.testing import golden

if TYPE_CHECKING:
    from framework.config import Config
    from framework.strategy import Strategy
    from framework.testing.runner import RunResult
    from framework.testing.scenario import Scenario

__all__ = ["Papertrade", "papertrade", "pytest_addoption", "pytest_configure"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("papertrade")
    group.addoption(
        "--papertrade-update-golden",
        action="store_true",
        default=False,
        help="papertrade: write golden folders instead of comparing with them.",
    )


def pytest_configure(config: pytest.Config) -> None:
    golden.settings.update = bool(config.getoption("--papertrade-update-golden"))
    golden.settings.root = Path(config.rootpath)


class Papertrade:
    """Runs strategies for one test, each run in its own folder under the test's ``tmp_path``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.runs = 0

    def run(
        self,
        strategy: type[Strategy] | Sequence[type[Strategy]],
        source: Scenario | str | Path,
        *,
        config: Config | str | Path | None = None,
        params: dict[str, Any] | None = None,
        seed: int = 0,
    ) -> RunResult:
        """Replay ``source`` (a Scenario, a recording path or a bundled recording's name).

        The recording and output files go to ``tmp_path/run-N``; see ``run_strategy``.
        """
        from framework.testing.runner import run_strategy

        self.runs += 1
        work = self.tmp_path / f"run-{self.runs}"
        work.mkdir()
        return run_strategy(
            strategy, source, config=config, params=params, seed=seed, tmp_path=work
        )


@pytest.fixture
def papertrade(tmp_path: Path) -> Papertrade:
    """Run strategies through the real loop and paper exchange: ``papertrade.run(S, source)``."""
    return Papertrade(tmp_path)
