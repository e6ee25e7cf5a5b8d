"""Importers: other people's market-data files become ordinary papertrade recordings.

``papertrade import FORMAT FILE... --symbol ... --out REC`` (``command``) runs
``convert.import_files``. Each format has a converter (``binance``, ``tardis``) that writes the
provider wire format the loop already decodes (``base`` says which), so a replay cannot tell an
imported recording from a recorded one, and every importer is tested by replaying what it
wrote. Input is streamed (``source``): memory stays flat in the file's size.

This package imports nothing on its own, so ``framework.importcsv`` can share ``base`` (the
market defined from the data) without an import cycle.
"""
