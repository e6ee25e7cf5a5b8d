"""The [sweep] table and the --from/--to times: read strictly; hostile text is a ConfigError."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from framework.errors import ConfigError
from framework.sweeps.command import SweepTable, read_sweep_table
from framework.window import Window, parse_time

NS = 1_000_000_000


def test_the_table_reads_every_option(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[run]\nseed = 3\n[sweep]\ngrid = { fast = "5:30:5", slow = [20, 30] }\nsamples = 4\n'
        'where = "fast < slow"\nmaximize = "sharpe"\nfolds = 2\nwalk = "rolling"\nworkers = 2\n'
        'backend = "ray"\naddress = "auto"\nsearch_seed = 9\n',
        encoding="utf-8",
    )
    assert read_sweep_table(path) == SweepTable(
        grid={"fast": "5:30:5", "slow": [20, 30]}, samples=4, where="fast < slow",
        maximize="sharpe", folds=2, walk="rolling", workers=2, backend="ray", address="auto",
        search_seed=9,
    )  # fmt: skip


def test_a_mistyped_value_names_its_place(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[sweep]\nwalk = "expanding"\n', encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"invalid \[sweep\] table in .*c\.toml: .*\$\.sweep\.walk"
    ):
        read_sweep_table(path)


@given(st.text(max_size=200))
def test_any_config_text_is_a_table_or_a_config_error(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "c.toml"
        path.write_text("[sweep]\n" + text, encoding="utf-8", errors="surrogatepass")
        try:
            table = read_sweep_table(path)
        except ConfigError:
            return
        assert isinstance(table, SweepTable)


@given(st.text(max_size=40))
def test_any_from_or_to_text_is_a_time_or_a_config_error(text: str) -> None:
    try:
        window = Window.parse(text, None)
    except ConfigError as exc:
        assert "--from" in str(exc)
        return
    assert isinstance(window.start_ns, int)


def test_times_are_utc_unless_zoned() -> None:
    assert parse_time("2025-06-26") == 1_750_896_000 * NS
    assert parse_time("2025-06-26T18:00:00Z") == parse_time("2025-06-26 20:00+02:00")
    assert parse_time("2025-06-26T18:00:00.000250") == (1_750_896_000 + 18 * 3600) * NS + 250_000
    with pytest.raises(ConfigError, match="--to 2025-06-26 is not after --from 2025-06-27"):
        Window.parse("2025-06-27", "2025-06-26")
