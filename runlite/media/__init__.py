"""Media logged over steps, pure: what ``log_image``, ``log_histogram`` and ``log_table`` accept,
made into the bytes runlite stores, and read back (docs/MEDIA.md). No SQLite here."""
