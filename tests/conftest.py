"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

FRAMES = Path(__file__).parent / "providers" / "frames"


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
