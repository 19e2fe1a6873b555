"""Shared pieces of the benchmarks: timing child processes, medians, the results table.

Benchmarks are scripts, not tests. Each measures auditkit and a reference engine
(DuckDB, pandas) on the same data in the same run and rewrites its own section of
``benchmarks/README.md`` between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``.
"""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
README = HERE / "README.md"
BIN = Path(sys.executable).parent


def run_measured(cmd: Sequence[str]) -> tuple[float, float, int]:
    """Run a command; return (wall seconds, CPU seconds (user + system) of the child and
    its children, peak RSS in bytes). CPU time barely moves when other jobs share the
    machine; wall time does."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        err = proc.stderr.read().decode() if proc.stderr else ""
        raise RuntimeError(f"{' '.join(cmd)} failed: {err[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def run_child(cmd: Sequence[str]) -> tuple[float, int]:
    """Run a command; return (wall seconds, peak RSS in bytes of that child)."""
    seconds, _, peak = run_measured(cmd)
    return seconds, peak


def generated_store(n: int) -> Path:
    """The generated store of ``n`` events (seed 3) that the search and explorer
    benchmarks share, made on first use."""
    path = DATA / f"store-{n}"
    if not (path / "store.json").exists():
        shutil.rmtree(path, ignore_errors=True)
        DATA.mkdir(parents=True, exist_ok=True)
        run_child([str(BIN / "auditkit"), "generate", "--events", str(n), "--seed", "3",
                   "--out", str(path)])  # fmt: skip
    return path


def timed(func: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall seconds of ``func`` over ``repeat`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        func()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def machine() -> str:
    """One line describing the machine the numbers come from."""
    import polars as pl

    try:
        import duckdb

        duck = duckdb.__version__
    except ImportError:  # pragma: no cover
        duck = "absent"
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"polars {pl.__version__}, duckdb {duck}; measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def write_section(name: str, markdown: str) -> None:
    """Replace the section ``name`` of benchmarks/README.md (appending it if new)."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = README.read_text() if README.exists() else "# Benchmarks\n"
    block = f"{start}\n{markdown.rstrip()}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        _, after = rest.split(end, 1)
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    README.write_text(text)


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
