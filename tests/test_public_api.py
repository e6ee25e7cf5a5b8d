"""The curated public API stays sorted, complete and importable."""

from __future__ import annotations

import framework


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert framework.__all__ == sorted(framework.__all__)
    for name in framework.__all__:
        assert getattr(framework, name) is not None


def test_the_strategy_api_is_reachable_from_the_package() -> None:
    from framework.strategy import Strategy, param

    assert framework.Strategy is Strategy and framework.param is param
