"""The public face: every name in __all__ exists, and importing runlite is side-effect free."""

import subprocess
import sys

import runlite


def test_all_names_exist():
    for name in runlite.__all__:
        assert hasattr(runlite, name), name


def test_import_changes_no_process_wide_state():
    code = ("import apsw, gc, sys, threading, logging; hooks = list(apsw.connection_hooks); "
            "n = threading.active_count(); handlers = list(logging.getLogger().handlers); import runlite; "
            "assert apsw.connection_hooks == hooks and gc.isenabled() and threading.active_count() == n; "
            "assert logging.getLogger().handlers == handlers")
    subprocess.run([sys.executable, "-c", code], check=True)
