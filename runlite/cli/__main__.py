"""``python -m runlite.cli``: the ``runlite`` command (``--reference`` prints docs/cli.md)."""

import sys

from .main import main

sys.exit(main())
