"""Reading the machine: CPU, memory, swap, disk and network I/O and this process through
psutil, and each NVIDIA GPU through NVML (``nvidia-ml-py``) when a driver and a GPU are there.

A ``Reader`` is a list of probes, each a function returning ``{series name: value}``. Rates
(disk and network bytes a second) come from counter deltas between two reads, and psutil's
CPU percentages measure the time since the previous read: building a ``Reader`` primes them,
so its first ``read()`` an interval later already has every figure. A probe that raises is
dropped and said once (``read`` returns the note); the others go on.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from .. import errors
from .._validation import shown

EXTRA = "pip install 'runlite[system]'"
MB = 1e6  # SI megabytes, as MLflow's system metrics count them

# Every series a Reader may give (GPU ones once per GPU index), for the docs and the tests.
SERIES = (
    "system/cpu.percent", "system/memory.used_mb", "system/memory.percent", "system/swap.percent",
    "system/disk.read_mb_per_s", "system/disk.write_mb_per_s",
    "system/network.sent_mb_per_s", "system/network.recv_mb_per_s",
    "system/process.cpu_percent", "system/process.rss_mb", "system/process.threads",
)
GPU_SERIES = ("utilization", "memory_used_mb", "memory_percent", "temperature", "power_watts")

Read = Callable[[], dict]


def psutil_module() -> Any:
    """psutil, or a ``MissingExtraError`` naming the extra to install."""
    try:
        import psutil
    except ImportError as exc:
        raise errors.MissingExtraError(f"system metrics need psutil: {EXTRA}") from exc
    return psutil


def available() -> bool:
    """True when system metrics can be sampled here (psutil is installed)."""
    try:
        psutil_module()
    except errors.MissingExtraError:
        return False
    return True


# -- psutil's probes: each factory primes what it needs and returns its read function (None:
# nothing to read on this machine, e.g. no disk counters in some containers)

def _cpu(ps) -> Read:
    ps.cpu_percent(None)  # the first call measures nothing: this one starts the clock
    return lambda: {"system/cpu.percent": float(ps.cpu_percent(None))}


def _memory(ps) -> Read:
    def read():
        mem = ps.virtual_memory()
        return {"system/memory.used_mb": mem.used / MB, "system/memory.percent": float(mem.percent)}
    return read


def _swap(ps) -> Read:
    return lambda: {"system/swap.percent": float(ps.swap_memory().percent)}


def _rates(counters: Callable[[], Any], fields: dict[str, str]) -> Read | None:
    """Bytes a second of cumulative counters (``fields``: series name -> counter attribute)."""
    last, last_t = counters(), time.monotonic()
    if last is None:
        return None

    def read():
        nonlocal last, last_t
        now, now_t = counters(), time.monotonic()
        if now is None:
            raise RuntimeError("the counters are gone")
        seconds = now_t - last_t
        if seconds <= 0:
            return {}
        # A counter that went back (a device removed) reads as no traffic, not negative traffic.
        out = {name: max(0, getattr(now, attr) - getattr(last, attr)) / seconds / MB for name, attr in fields.items()}
        last, last_t = now, now_t
        return out
    return read


def _disk(ps) -> Read | None:
    return _rates(ps.disk_io_counters, {"system/disk.read_mb_per_s": "read_bytes",
                                         "system/disk.write_mb_per_s": "write_bytes"})


def _network(ps) -> Read | None:
    return _rates(ps.net_io_counters, {"system/network.sent_mb_per_s": "bytes_sent",
                                        "system/network.recv_mb_per_s": "bytes_recv"})


def _process(ps) -> Read:
    proc = ps.Process()  # this process: a forked child builds a Reader of its own
    cpus = ps.cpu_count() or 1
    proc.cpu_percent(None)

    def read():
        with proc.oneshot():  # one read of /proc for the three figures
            return {"system/process.cpu_percent": proc.cpu_percent(None) / cpus,  # share of all CPUs
                    "system/process.rss_mb": proc.memory_info().rss / MB,
                    "system/process.threads": float(proc.num_threads())}
    return read


PSUTIL_PROBES = (("cpu", _cpu), ("memory", _memory), ("swap", _swap), ("disk", _disk),
                 ("network", _network), ("process", _process))


# -- NVML's probes, one a GPU and figure (a figure a GPU does not support is dropped alone)

def _nvml() -> Any:
    """pynvml, initialised; None when it is not installed or finds no driver."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, an odd libnvidia-ml: no GPU
        return None
    return pynvml


def _gpu_probes(nv, index: int) -> list[tuple[str, Read]]:
    handle = nv.nvmlDeviceGetHandleByIndex(index)
    prefix = f"system/gpu.{index}."

    def memory():
        info = nv.nvmlDeviceGetMemoryInfo(handle)
        return {prefix + "memory_used_mb": info.used / MB,
                prefix + "memory_percent": 100.0 * info.used / info.total if info.total else 0.0}

    return [
        (f"gpu.{index} utilization",
         lambda: {prefix + "utilization": float(nv.nvmlDeviceGetUtilizationRates(handle).gpu)}),
        (f"gpu.{index} memory", memory),
        (f"gpu.{index} temperature",
         lambda: {prefix + "temperature": float(nv.nvmlDeviceGetTemperature(handle, nv.NVML_TEMPERATURE_GPU))}),
        (f"gpu.{index} power", lambda: {prefix + "power_watts": nv.nvmlDeviceGetPowerUsage(handle) / 1000.0}),
    ]


class Reader:
    """The probes of this machine, read together (``read``). Build it where it will be read:
    its process and counters are those of the moment it is built."""

    def __init__(self) -> None:
        self.probes: list[tuple[str, Read]] = []
        self.notes: list[str] = []
        ps = psutil_module()
        for label, factory in PSUTIL_PROBES:
            try:
                read = factory(ps)
            except Exception as exc:  # noqa: BLE001 - e.g. AccessDenied in a sandbox: that probe only
                self.notes.append(_dropped(label, exc))
                continue
            if read is not None:
                self.probes.append((label, read))
        self.nvml = _nvml()
        if self.nvml is not None:
            try:
                gpus = self.nvml.nvmlDeviceGetCount()
                for index in range(gpus):
                    self.probes.extend(_gpu_probes(self.nvml, index))
            except Exception as exc:  # noqa: BLE001 - a GPU that cannot be opened: the others' probes stay
                self.notes.append(_dropped("gpu", exc))

    def read(self) -> tuple[dict, list[str]]:
        """Every probe's figures, and the notes of probes dropped since the last read."""
        values: dict = {}
        for probe in list(self.probes):
            label, read = probe
            try:
                values.update(read())
            except Exception as exc:  # noqa: BLE001 - a failing probe never stops the others
                self.probes.remove(probe)
                self.notes.append(_dropped(label, exc))
        notes, self.notes = self.notes, []
        return values, notes

    def close(self) -> None:
        """Let go of NVML (it counts its users)."""
        if self.nvml is not None:
            nvml, self.nvml = self.nvml, None
            try:
                nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001 - shutting down: nothing to do about it
                pass


def _dropped(label: str, exc: BaseException) -> str:
    return (f"system metrics: the {label} probe failed ({type(exc).__name__}: {shown(str(exc), 200)}); "
            "its series stop here")
