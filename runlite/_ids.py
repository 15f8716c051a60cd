"""Identifiers: uuid7 run ids, LangSmith dotted_order segments, adjective-noun names."""

from __future__ import annotations

import random
import re
import time

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

_last_ms = 0
_counter = 0


def uuid7(now_us: int | None = None) -> str:
    """A time-ordered UUID (RFC 9562 version 7) as a lowercase string.

    Ids made in one process are strictly increasing even within one millisecond
    (a 12-bit counter fills ``rand_a``), so sorting by id sorts by creation.
    """
    global _last_ms, _counter
    ms = (now_us if now_us is not None else time.time_ns() // 1000) // 1000
    if ms <= _last_ms:
        ms = _last_ms
        _counter += 1
        if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
            ms += 1
            _counter = 0
    else:
        _counter = random.getrandbits(8)  # random start leaves room to count up
    _last_ms = ms
    rand_b = random.getrandbits(62)
    h = f"{(ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | _counter << 64 | 0b10 << 62 | rand_b:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def is_uuid(text: object) -> bool:
    """True when ``text`` is a canonical lowercase hyphenated UUID string."""
    return isinstance(text, str) and _UUID_RE.match(text) is not None


def dotted_segment(start_us: int, run_id: str) -> str:
    """One dotted_order segment: ``%Y%m%dT%H%M%S%fZ`` (UTC, microseconds) + the run id."""
    secs, micros = divmod(start_us, 1_000_000)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(secs))
    return f"{stamp}{micros:06d}Z{run_id}"


def dotted_ids(dotted_order: str) -> list[str]:
    """The run ids along a dotted_order, root first (each segment ends with a 36-char id)."""
    return [segment[-36:] for segment in dotted_order.split(".") if segment]


_ADJECTIVES = (
    "amber", "ancient", "autumn", "bold", "brave", "bright", "calm", "crimson", "crisp",
    "curious", "dapper", "deep", "eager", "early", "fancy", "fearless", "gentle", "golden",
    "graceful", "hidden", "honest", "icy", "jolly", "keen", "kind", "lively", "lucky", "mellow",
    "misty", "noble", "odd", "patient", "polished", "proud", "quick", "quiet", "rapid", "rustic",
    "shiny", "silent", "silver", "snowy", "solar", "steady", "sunny", "swift", "tidy", "tranquil",
    "vivid", "warm", "wild", "wise", "young", "zesty",
)
_NOUNS = (
    "anchor", "apple", "arrow", "badger", "beacon", "bridge", "brook", "cactus", "canyon",
    "cedar", "comet", "coral", "crane", "delta", "domain", "dune", "ember", "falcon", "fern",
    "field", "forest", "glacier", "harbor", "heron", "island", "lagoon", "lantern", "maple",
    "meadow", "mesa", "nebula", "oak", "orbit", "otter", "paper", "pebble", "pine", "prairie",
    "quartz", "raven", "reef", "ridge", "river", "sparrow", "spruce", "summit", "thistle",
    "tide", "tone", "tundra", "valley", "willow", "wolf", "zephyr",
)


def random_name() -> str:
    """A random ``adjective-noun`` run name, e.g. ``tranquil-tone``."""
    return f"{random.choice(_ADJECTIVES)}-{random.choice(_NOUNS)}"
