"""``python -m framework`` runs the papertrade command line."""

from __future__ import annotations

from framework.cli import main

if __name__ == "__main__":
    main()
