"""Facts about the running process: host, system info, and whether a run's process is gone."""

from __future__ import annotations

import functools
import os
import platform
import socket
import sys

THIS_HOST = socket.gethostname()


@functools.lru_cache(maxsize=1)
def _static_system() -> dict:
    return {
        "hostname": THIS_HOST,
        "pythonversion": platform.python_version(),
        "platform": {"system": platform.system(), "release": platform.release()},
        "cpu": {"arch": platform.machine()},
        "executable": sys.executable,
    }


def system_info() -> dict:
    """The Simvue ``system`` record of this process (cwd and pid included)."""
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = None
    return {**_static_system(), "cwd": cwd, "pid": os.getpid()}


def pid_alive(pid: int) -> bool:
    """True when a process with ``pid`` exists on this host (POSIX; always True elsewhere)."""
    if os.name != "posix" or pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    return True


def effective_status(status: str, host: str | None, pid: int | None, heartbeat: int | None,
                     timeout: float | None, now_us: int) -> str:
    """``lost`` for a running run whose process is gone or whose heartbeat is too old."""
    if status != "running":
        return status
    if timeout is not None and heartbeat is not None and now_us - heartbeat > timeout * 1_000_000:
        return "lost"
    if host == THIS_HOST and pid is not None and pid != os.getpid() and not pid_alive(pid):
        return "lost"
    return status
