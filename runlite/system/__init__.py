"""System metrics (``runlite[system]``): CPU, memory, disk and network I/O, this process and
NVIDIA GPUs sampled by one thread per process into each sampling run's ``system/...`` series
(docs/SYSTEM.md). ``available()`` says whether psutil is installed, for callers that turn
sampling on by default and skip it (with one warning) when it is not.
"""

from .feed import DEFAULT_INTERVAL, MAX_INTERVAL, MIN_INTERVAL, check_interval, setting
from .probes import GPU_SERIES, SERIES, available

__all__ = ["DEFAULT_INTERVAL", "GPU_SERIES", "MAX_INTERVAL", "MIN_INTERVAL", "SERIES", "available",
           "check_interval", "setting"]
