"""Media logged over steps, pure: what ``log_image``, ``log_histogram`` and ``log_table`` accept,
made into the bytes runlite stores, and read back (docs/MEDIA.md). No SQLite here."""

# log_histogram's bins (as W&B), here so that the run handle, which names it as a default,
# does not load `histograms` before a program logs one.
DEFAULT_BINS = 64

