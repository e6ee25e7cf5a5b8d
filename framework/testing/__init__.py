"""The user test kit: run a strategy on a recording or a scripted scenario, under plain pytest.

A strategy test reads like the market it scripts. :class:`Scenario` writes trades and books as
Cryptomus frames and bars as Finazon frames, exactly as those providers send them, so the run
goes through the real codecs, loop and paper exchange; nothing is mocked::

    from framework.testing import Scenario, run_strategy

    def test_buys_on_the_first_up_tick(tmp_path):
        scenario = (
            Scenario("BTC/USDT")
            .book(0, bids=[(100.0, 1.0)], asks=[(100.5, 1.0)])
            .trade(1, 100.5, 0.01, "buy")
        )
        result = run_strategy(MyStrategy, scenario, params={"size": "0.001"}, tmp_path=tmp_path)
        result.assert_no_rejections()
        assert [(f.direction, f.price) for f in result.fills] == [("buy", Decimal("100.5"))]

:func:`run_strategy` also takes a recording path (``replays/...``), a config and parameters,
and returns a :class:`RunResult`: the private events, orders, fills, final balances, rejections
and the run summary, plus the strategy instances themselves. :func:`check_codec` is the
conformance check every provider codec passes (as trio's ``check_one_way_stream`` is for
streams).

Scenario times are seconds after the scenario's start (2025-06-26 16:00:00 UTC unless given).
This package must not read the wall clock or use unseeded randomness; it writes only under the
directory it is given (or a temporary one it removes).

The kit's parts: ``scenario`` (the :class:`Scenario` builder), ``runner`` (:func:`run_strategy`
and what it returns), ``golden`` (golden runs, ``result.assert_matches_golden``), ``plugin``
(the pytest plugin: the ``papertrade`` fixture and ``--papertrade-update-golden``),
``markets`` (Hypothesis strategies of market scenarios; needs ``papertrade[testing]``) and
``conformance`` (:func:`check_codec`). :func:`recording` finds a bundled recording by name.
This file only re-exports them (``markets`` is imported on its own, as it needs Hypothesis);
import from ``framework.testing``.
"""

from __future__ import annotations

from framework.bundled import recording
from framework.testing.conformance import check_codec
from framework.testing.runner import Fill, RunResult, run_strategy
from framework.testing.scenario import DEFAULT_START_S, Scenario

__all__ = [
    "DEFAULT_START_S",
    "Fill",
    "RunResult",
    "Scenario",
    "check_codec",
    "recording",
    "run_strategy",
]
