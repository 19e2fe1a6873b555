"""Events as text for terminals: the table ``auditkit tail``/``search`` and the demo print."""

from __future__ import annotations

import json
import sys

import polars as pl

TABLE_COLUMNS = ("timestamp", "actor", "action", "resource", "status", "ip_address")
_STATUS_MARK = {"success": "✓", "failed": "✗", "in_progress": "…", "pending": "○"}


def print_events(rows: pl.DataFrame, output: str) -> None:
    if output == "json":
        for row in rows.iter_rows(named=True):
            print(json.dumps(row, default=str, ensure_ascii=False))
        return
    if output == "csv":
        sys.stdout.write(rows.write_csv())
        return
    if rows.is_empty():
        print("no events")
        return
    view = rows.select(
        pl.col("timestamp").dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.col("actor"),
        pl.col("action"),
        pl.concat_str(
            pl.col("resource_type").fill_null("?"),
            pl.coalesce("resource_name", "resource_id").fill_null(""),
            separator=":",
        ).alias("resource"),
        pl.col("status")
        .cast(pl.String)
        .replace_strict(
            {k: f"{v} {k}" for k, v in _STATUS_MARK.items()},
            default=pl.col("status").cast(pl.String),
        ),
        pl.col("ip_address").fill_null(""),
    )
    widths = [
        min(40, max(len(c), *(len(str(v or "")) for v in view.get_column(c)))) for c in view.columns
    ]
    print("  ".join(c.ljust(w) for c, w in zip(view.columns, widths, strict=True)))
    for values in view.iter_rows():
        cells = [str(v or "") for v in values]
        print("  ".join(_clip(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
