"""Identifiers: uuid7 run ids, LangSmith dotted_order segments, adjective-noun names."""

from __future__ import annotations

import binascii
import functools
import itertools
import operator
import os
import re
import struct
import threading
import time

from . import _lazy

uuid = _lazy.module("uuid")  # for the derived ids below alone

_UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Ids must be unique across processes and files that are later merged, so their random bits
# come from the OS, never from the ``random`` module a user may seed (two processes seeded
# alike would draw the same bits). One ``os.urandom`` call per id costs more than the rest of
# ``uuid7``, so words are drawn in blocks and used up under the lock; a forked child drops the
# words it inherited (the parent goes on using them) and starts a new millisecond.
_POOL_WORDS = 512  # 64-bit words a block: an id takes one, a new millisecond one more
_RAND_B_MASK = (1 << 62) - 1
_MS_MASK = (1 << 48) - 1
_VARIANT = 0b10 << 62

_lock = threading.Lock()
_last_ms = 0
_counter = 0
_pool: list[int] = []
_prefix = (-1, "")  # (ms, its first two groups as text): see uuid7


def _refill() -> None:
    _pool.extend(struct.unpack(f"<{_POOL_WORDS}Q", os.urandom(8 * _POOL_WORDS)))


def _after_fork_in_child() -> None:
    """Give a forked child its own id state: nothing it draws may repeat the parent's."""
    global _lock, _last_ms, _counter
    _lock = threading.Lock()  # another thread of the parent may have held it at the fork
    _pool.clear()             # the parent goes on drawing these very words
    # The next id takes a later millisecond than any made before the fork (so the child's ids
    # still sort after them) and a counter start of its own, not the parent's sequence.
    _last_ms += 1
    _counter = os.urandom(1)[0]


def uuid7(now_us: int | None = None) -> str:
    """A time-ordered UUID (RFC 9562 version 7) as a lowercase string.

    Ids made in one process are strictly increasing, across threads and even within one
    millisecond (a 12-bit counter fills ``rand_a``), so sorting by id sorts by creation;
    the other 62 bits are from the OS, so ids of other processes and hosts do not repeat.
    """
    global _last_ms, _counter, _prefix
    ms = (now_us if now_us is not None else time.time_ns() // 1000) // 1000
    with _lock:
        if len(_pool) < 2:
            _refill()
        rand_b = _pool.pop() & _RAND_B_MASK
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = _pool.pop() >> 56  # random start (8 bits) leaves room to count up
        _last_ms = ms
        counter = _counter
    # Text formatting is most of an id's cost and this runs once a traced span, so it is
    # inline (a call costs as much as the lock) and the first two groups (unix_ts_ms, 48 bits)
    # are formatted once a millisecond. The cache is one tuple swapped whole, so threads
    # racing here at worst format the same text twice.
    cached = _prefix
    if cached[0] != ms:
        h = (ms & _MS_MASK).to_bytes(6, "big").hex()
        cached = _prefix = (ms, f"{h[:8]}-{h[8:]}-")
    # Then version 7 and rand_a (the counter), variant 0b10 and rand_b.
    h = ((0x7000 | counter) << 64 | _VARIANT | rand_b).to_bytes(10, "big").hex()
    return f"{cached[1]}{h[:4]}-{h[4:8]}-{h[8:]}"


# uuid7_many's text: each id packed as unix_ts_ms (8 bytes, the first two zero), version 7 and
# rand_a (2), variant and rand_b (8), hexlified at once; then each hex digit's column copied to
# its place in lines of this template (a strided copy a digit), and the lines split.
_TEMPLATE = b"00000000-0000-0000-0000-000000000000\n"
_PLACES = [(digit, place) for digit, place in enumerate(
    [k for k, c in enumerate(_TEMPLATE[:-1]) if c != ord("-")], start=4)]


def uuid7_many(starts_us: list[int]) -> list[str]:
    """`uuid7` of each start time in turn, as that many calls would make them (strictly
    increasing, and between the ids made before and after), for the span writer, which makes
    thousands at once: the lock is taken once, the random words drawn in one read, and the
    text made by C-level passes over all of them."""
    global _last_ms, _counter
    n = len(starts_us)
    if not n:
        return []
    stamps = list(map(operator.floordiv, starts_us, itertools.repeat(1000)))
    made_ms, counters, words = [], [], []
    with _lock:
        short = 2 * n - len(_pool)  # an id takes one word, a new millisecond one more
        if short > 0:
            blocks = -(-short // _POOL_WORDS) * _POOL_WORDS
            _pool.extend(struct.unpack(f"<{blocks}Q", os.urandom(8 * blocks)))
        pop = _pool.pop
        last, counter = _last_ms, _counter
        for ms in stamps:  # uuid7's steps, taking the words in the same order
            words.append(pop())
            if ms <= last:
                counter += 1
                if counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                    last += 1
                    counter = 0
            else:
                last = ms
                counter = pop() >> 56
            made_ms.append(last)
            counters.append(counter)
        _last_ms, _counter = last, counter
    if last > _MS_MASK:  # past the year 10889: the low 48 bits, as uuid7 writes them
        made_ms = list(map(operator.and_, made_ms, itertools.repeat(_MS_MASK)))
    version = map(operator.or_, counters, itertools.repeat(0x7000))
    variant = map(operator.or_, map(operator.and_, words, itertools.repeat(_RAND_B_MASK)), itertools.repeat(_VARIANT))
    hexed = binascii.hexlify(struct.pack(f">{'QHQ' * n}", *itertools.chain.from_iterable(
        zip(made_ms, version, variant))))
    text = bytearray(_TEMPLATE * n)
    for digit, place in _PLACES:
        text[place::37] = hexed[digit::36]
    return text.decode("ascii").split()


def is_uuid(text: object) -> bool:
    """True when ``text`` is a canonical lowercase hyphenated UUID string."""
    return isinstance(text, str) and _UUID_RE.fullmatch(text) is not None  # ($ would let a final newline by)


# Projects (LangSmith's sessions) are named; the id is derived from the name, so one project has
# one id in every file (merges join them) and no table of projects has to be kept in step.
_PROJECT_NAMESPACE = "5b1c3c1e-6a0f-4e0c-9a55-72756e6c6974"


@functools.lru_cache(maxsize=256)
def project_id(name: str) -> str:
    """The id of the project called ``name`` (the same in every file). Cached: every span and
    every run a client sends names its project, most of them the same few."""
    return str(uuid.uuid5(uuid.UUID(_PROJECT_NAMESPACE), name))


# A caller's own run id that is not a UUID (W&B's short ids, a SLURM job id) stands for a UUID
# derived from it, as projects' ids are: the same text gives the same run id in every file.
_RUN_NAMESPACE = "5b1c3c1e-6a0f-4e0c-9a55-72756e696431"


def run_id_for(key: str) -> str:
    """The run id a caller's ``id=`` names: a hyphenated UUID as itself (lowercased), any other
    text as the uuid5 derived from it (the same in every file and on every host)."""
    lowered = key.lower()
    return lowered if is_uuid(lowered) else str(uuid.uuid5(uuid.UUID(_RUN_NAMESPACE), key))


_second: tuple[int, str] = (-1, "")  # the last second formatted: one tuple swapped whole, as uuid7's


def dotted_segment(start_us: int, run_id: str) -> str:
    """One dotted_order segment: ``%Y%m%dT%H%M%S%fZ`` (UTC, microseconds) + the run id.

    Every run and traced span makes one, most of them in the same second as the one before:
    the second's text is formatted once (``gmtime`` and ``strftime`` are most of the cost)."""
    global _second
    secs, micros = divmod(start_us, 1_000_000)
    cached = _second
    if cached[0] != secs:
        cached = _second = (secs, time.strftime("%Y%m%dT%H%M%S", time.gmtime(secs)))
    return f"{cached[1]}{micros:06d}Z{run_id}"


def dotted_segments(starts_us: list[int], run_ids: list[str]) -> list[str]:
    """`dotted_segment` of each pair, for the span writer's batches: each second's text made
    once and the rest in C-level passes (from 1970 on, a start's last six digits are its
    microseconds); earlier starts take `dotted_segment` one at a time."""
    if not starts_us or min(starts_us) < 1_000_000:
        return list(map(dotted_segment, starts_us, run_ids))
    secs = list(map(operator.floordiv, starts_us, itertools.repeat(1_000_000)))
    dates = {sec: time.strftime("%Y%m%dT%H%M%S", time.gmtime(sec)) for sec in set(secs)}
    return list(map("".join, zip(map(dates.__getitem__, secs), map(_MICROS, map(str, starts_us)),
                                 itertools.repeat("Z"), run_ids)))


_MICROS = operator.itemgetter(slice(-6, None))  # of a start's digits


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
    """A random ``adjective-noun`` run name, e.g. ``tranquil-tone``.

    Names may repeat (runs are told apart by id), but a program seeding ``random`` for its own
    reproducibility should not get the same run names every time, nor a forked child its
    parent's: they come from the OS's randomness (the modulo's bias is under 1e-7)."""
    adjective, noun = struct.unpack("<II", os.urandom(8))
    return f"{_ADJECTIVES[adjective % len(_ADJECTIVES)]}-{_NOUNS[noun % len(_NOUNS)]}"


if hasattr(os, "register_at_fork"):  # POSIX; elsewhere a child process starts afresh
    os.register_at_fork(after_in_child=_after_fork_in_child)
