"""``python -m runlite``: the same as the ``runlite`` command."""

import sys

from .cli import main

sys.exit(main())
