"""The ``runlite`` command, thin over the public API (argparse); ``docs/cli.md`` is generated
from it (``python -m runlite.cli --reference``).

Every command keeps the same conventions (``main.CONVENTIONS``, shown by ``runlite --help``):

- FILE, the runlite file, is the first positional argument: ``runlite show runs.db RUN``. It
  may be left out when the command's other arguments are complete without it (then ``--db``,
  ``$RUNLITE_DB`` or ``./runs.db`` names it); with ``--db`` no positional argument is the file:
  ``runlite show RUN --db runs.db``.
- RUN is a run id, a unique name, or a unique id prefix of at least 4 hex digits.
- ``--json`` on every command that prints results; ``--overwrite`` on every command that
  writes a file; ``rm`` and ``gc`` ask first (``--yes``, ``--dry-run``).
- A mistake reads in the command's words, on one line: ``runlite: error: ...``.

Modules: ``main.py`` (the parser, the conventions, errors), ``output.py`` (tables, JSON,
progress, the question before deleting), ``paths.py`` (the file, destinations, --overwrite),
``options.py`` (option values checked as they are read), and the commands by theme:
``reading.py``, ``keeping.py``, ``serving.py``.
"""

from .main import build_parser, main, reference

__all__ = ["build_parser", "main", "reference"]
