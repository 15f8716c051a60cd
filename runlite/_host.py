"""Facts about the running process: host, system info, and whether a run's process is gone."""

from __future__ import annotations

import functools
import os
import platform
import sys

# The host name socket.gethostname() gives (uname's node name), without importing socket: a
# program that only logs never needs it (2.5 ms of its first use).
THIS_HOST = platform.node()


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


@functools.lru_cache(maxsize=1)
def _boot_time() -> float | None:
    """When this host booted (epoch seconds, whole: Linux ``/proc/stat``); None elsewhere."""
    try:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime "):
                    return float(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_started(pid: int) -> float | None:
    """When process ``pid`` of this host started, in epoch seconds, at most a second early
    (the boot time is whole seconds): Linux ``/proc``; None where it cannot be read."""
    boot = _boot_time()
    if boot is None or pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        # Field 22, starttime in clock ticks since boot; the name (field 2) may hold spaces and ")".
        ticks = int(stat[stat.rindex(b")") + 2:].split()[19])
    except (OSError, ValueError, IndexError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def writer_alive(host: str | None, pid: int | None, heartbeat_us: int | None) -> bool:
    """True when the process that wrote a run's last heartbeat still runs on this host, though
    the heartbeat is stale (a write lock held elsewhere, a suspended process): its pid lives and
    that process started before the heartbeat. A pid reused since belongs to a process started
    after the writer died, so after its last heartbeat. False where it cannot be known (another
    host, no ``/proc``) and for this process (its own writers are known to it)."""
    if host != THIS_HOST or pid is None or heartbeat_us is None or pid == os.getpid() or not pid_alive(pid):
        return False
    started = process_started(pid)
    return started is not None and started * 1_000_000 <= heartbeat_us


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
