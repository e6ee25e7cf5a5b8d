"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# Tests never time anything: Hypothesis' per-example deadline is a timed assertion that fails
# under load (CI machines, a full suite beside other work) and says nothing about behaviour.
settings.register_profile("papertrade", deadline=None)
settings.load_profile("papertrade")

FRAMES = Path(__file__).parent / "providers" / "frames"


@pytest.fixture(autouse=True, scope="session")
def _decoded_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Replays (in this process and in the CLI processes it starts) keep their decoded caches
    in a folder of the test session, never in the user's ~/.cache."""
    old = os.environ.get("PAPERTRADE_CACHE")
    os.environ["PAPERTRADE_CACHE"] = str(tmp_path_factory.mktemp("decoded-cache"))
    yield
    if old is None:
        del os.environ["PAPERTRADE_CACHE"]
    else:
        os.environ["PAPERTRADE_CACHE"] = old


def fix_documented_slips(documented: str) -> str:
    """The documented Cryptomus private examples with their two known slips fixed, only them:
    the trailing comma after ``updateTs`` and the missing comma before ``internalState``."""
    return documented.replace("1750696487,\n", "1750696487\n").replace(
        '"completed""internalState"', '"completed", "internalState"'
    )


@pytest.fixture
def documented() -> Callable[..., str]:
    """``documented("cryptomus", "order_finished.txt")``: a documented frame, verbatim as the
    provider's page shows it (``fixed=True`` mends the two known slips of the private examples)."""

    def load(provider: str, name: str, *, fixed: bool = False) -> str:
        text = (FRAMES / provider / name).read_text(encoding="utf-8").rstrip("\n")
        return fix_documented_slips(text) if fixed else text

    return load
