"""The run database: every run's results in one SQLite file (``--db FILE``), for many runs.

``schema`` creates and opens the file; ``writer`` writes one run's rows as it goes; ``listing``
is ``papertrade runs FILE``. The database indexes results; a run's folder and recording stay
the source of truth.
"""

from framework.rundb.schema import connect
from framework.rundb.writer import RunWriter, begin_run

__all__ = ["RunWriter", "begin_run", "connect"]
