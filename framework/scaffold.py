"""``papertrade new NAME``: a strategy project to start from, with its tests and CI.

The project holds a strategy, its config, a test file (a scenario test, a golden run on a
bundled recording and a property test on generated markets), pytest settings and a GitHub
Actions workflow running pytest. The templates are package data (``framework/data/scaffold``);
this module only fills in the names and writes the files, never over an existing one.
"""

from __future__ import annotations

import importlib.resources
import keyword
import re
from pathlib import Path
from string import Template
from typing import Final

import click

import framework
from framework.errors import ConfigError

__all__ = ["new", "scaffold"]

# template -> path in the project; ${module} is the strategy module's name
_FILES: Final = (
    ("strategy.py.tmpl", "${module}.py"),
    ("test_strategy.py.tmpl", "tests/test_${module}.py"),
    ("config.toml.tmpl", "config.toml"),
    ("pyproject.toml.tmpl", "pyproject.toml"),
    ("README.md.tmpl", "README.md"),
    (".github/workflows/test.yml.tmpl", ".github/workflows/test.yml"),
)


def scaffold(name: str, parent: Path) -> list[Path]:
    """Write project ``name`` under ``parent``; return the files written.

    Raises:
        ConfigError: the name makes no Python module name, or the folder exists and is not empty.
    """
    module = re.sub(r"\W+", "_", name.strip()).strip("_").lower()
    if not module or module[0].isdigit() or keyword.iskeyword(module):
        raise ConfigError(
            f"project name {name!r} does not make a Python module name (try letters, digits, -)"
        )
    root = parent / name
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root} already exists and is not empty")
    names = {
        "name": name,
        "module": module,
        "Class": "".join(part.capitalize() for part in module.split("_")),
        "version": framework.__version__,
    }
    templates = importlib.resources.files("framework").joinpath("data", "scaffold")
    written = []
    for template, target in _FILES:
        text = templates.joinpath(*template.split("/")).read_text(encoding="utf-8")
        path = root / Template(target).substitute(names)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template(text).substitute(names), encoding="utf-8")
        written.append(path)
    return written


@click.command()
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to create the project in.",
)
def new(name: str, parent: Path) -> None:
    """Create strategy project NAME: a strategy, its tests (scenario, golden run, property),
    a config and a CI workflow running pytest.

    \b
      papertrade new dip-buyer && cd dip-buyer && pytest
    """
    written = scaffold(name, parent)
    root = parent / name
    for path in written:
        click.echo(f"  wrote {path}")
    click.echo(
        f"Next: cd {root} && pip install 'papertrade[testing]' && pytest\n"
        "The first pytest run writes the golden run to tests/golden/: commit it."
    )
