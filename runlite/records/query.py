"""The rows of ``Store.sql``."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class QueryResult:
    """Rows of ``Store.sql``: column names, rows as tuples, and whether ``max_rows`` cut them."""

    columns: tuple
    rows: list
    truncated: bool = False

    def to_dicts(self) -> list[dict[str, Any]]:
        """Each row as ``{column: value}``."""
        return [dict(zip(self.columns, row)) for row in self.rows]
