"""What ``make demo`` prints: newest events, counts by action and status, where the store is.

Run as ``python -m auditkit.demo STORE``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from auditkit.console import print_events
from auditkit.query import page
from auditkit.store import Store


def show(root: Path, *, newest: int = 10) -> None:
    """Print a first look at a store."""
    store = Store(root)
    summary = store.summary()
    print(f"\nauditkit demo store: {store.root.resolve()}")
    print(
        f"{summary['events']:,} events from {summary['first']:%Y-%m-%d} "
        f"to {summary['last']:%Y-%m-%d}\n"
    )
    print(f"newest {newest} events (newest first):")
    result = page(store.scan(), limit=newest)
    print_events(result.rows, "table")
    for key in ("action", "status"):
        print(f"\nevents by {key}:")
        for name, count in summary["by_" + key].items():
            print(f"  {name:<12} {count:>10,}")
    print(
        f"\nnext: auditkit tail --store {root} --older-than '{result.older}'"
        f"\n      auditkit stats --store {root}"
    )


if __name__ == "__main__":
    show(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-store"))
