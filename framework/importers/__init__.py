"""Importers: other people's market-data files become ordinary papertrade recordings.

``papertrade import FORMAT FILE... --symbol ... --out REC`` (``framework.importers.command``)
runs :func:`import_files`. Each format has a converter (``binance``, ``tardis``) that writes
the provider wire format the loop already decodes (``base`` says which), so a replay cannot
tell an imported recording from a recorded one, and every importer is tested by replaying what
it wrote. Input is streamed (``source``): memory stays flat in the file's size.
"""

from __future__ import annotations

from framework.importers.convert import FORMATS as FORMATS
from framework.importers.convert import GENERATOR as GENERATOR
from framework.importers.convert import import_files as import_files

__all__ = ["FORMATS", "GENERATOR", "import_files"]
