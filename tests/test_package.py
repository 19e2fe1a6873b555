"""The package surface: exports, import cost, and the source registry's extension point."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

import auditkit
from auditkit import sources
from auditkit.errors import SourceError
from auditkit.schema import conform
from auditkit.sources import Batch, native

HEAVY = (
    "great_expectations",
    "papermill",
    "ipywidgets",
    "altair",
    "pandas",
    "duckdb",
    "nbconvert",
    "voila",
)


def test_all_is_sorted_and_names_exactly_the_public_names() -> None:
    exported = auditkit.__all__
    assert exported == sorted(exported)
    public = {
        name
        for name, value in vars(auditkit).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert set(exported) == public
    for name in exported:
        assert hasattr(auditkit, name)


def heavy_modules_after(code: str) -> list[str]:
    probe = f"import sys; {code}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    return ast.literal_eval(result.stdout)


@pytest.mark.parametrize(
    "code",
    [
        "import auditkit",
        "import auditkit.schema, auditkit.store, auditkit.query, auditkit.sources.native",
        "import auditkit.cli",
        "from auditkit import sources; sources.available()",
    ],
)
def test_importing_loads_no_optional_dependency(code: str) -> None:
    assert heavy_modules_after(code) == []


# -- the source registry ----------------------------------------------------------------


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, sources.Source]]:
    """An empty registry that has not yet read the entry points (restored afterwards)."""
    registry: dict[str, sources.Source] = {}
    monkeypatch.setattr(sources, "_REGISTRY", registry)
    monkeypatch.setattr(sources, "_BROKEN", {})
    monkeypatch.setattr(sources, "_ENTRY_POINTS_LOADED", False)
    yield registry


def test_built_ins_are_found_through_entry_points(fresh_registry: dict) -> None:
    declared = {ep.name: ep.value for ep in entry_points(group="auditkit.sources")}
    assert declared["native"] == "auditkit.sources.native:SOURCE"
    assert fresh_registry == {}  # nothing registered by importing
    found = sources.available()
    assert found["native"] is native.SOURCE
    assert set(found) | set(sources._BROKEN) == set(declared)
    assert sources.get("native") is native.SOURCE


def test_unknown_source_name_lists_the_valid_ones(fresh_registry: dict) -> None:
    with pytest.raises(SourceError, match=r"unknown source format 'nope'; valid formats: .*native"):
        sources.get("nope")


class FakeSource:
    """A third-party adapter for a made-up format: lines of ``id|iso-time|actor|action``."""

    name = "fakelog"
    description = "FAKELOG pipe-separated test format"

    def sniff(self, path: Path, head: bytes) -> bool:
        return head.startswith(b"FAKELOG v1\n")

    def read(self, path: Path, *, strict: bool = False) -> Iterator[Batch]:
        lines = path.read_text().splitlines()[1:]
        rows = [line.split("|") for line in lines]
        frame = pl.DataFrame(
            {
                "event_id": [r[0] for r in rows],
                "timestamp": [r[1] for r in rows],
                "actor": [r[2] for r in rows],
                "action": [r[3] for r in rows],
                "status": ["success"] * len(rows),
                "source": ["fakelog"] * len(rows),
            }
        ).with_columns(pl.col("timestamp").str.to_datetime(time_zone="UTC"))
        yield Batch(conform(frame))


def test_a_registered_third_party_source_is_used_by_detect(
    fresh_registry: dict, tmp_path: Path
) -> None:
    path = tmp_path / "custom.log"
    path.write_text(
        "FAKELOG v1\nf1|2026-10-01T10:00:00|alice|viewed\nf2|2026-10-01T11:00:00|bob|created\n"
    )
    with pytest.raises(SourceError, match="not a log format"):
        sources.detect(path)
    fake = FakeSource()
    sources.register(fake)
    assert sources.detect(path) is fake
    assert sources.available()["fakelog"] is fake
    assert "native" in sources.available()  # the built-ins are still there
    events = pl.concat([batch.events for batch in sources.read(path)])
    assert events.select("event_id", "actor", "source").rows() == [
        ("f1", "alice", "fakelog"),
        ("f2", "bob", "fakelog"),
    ]
    # Native files are still detected as native.
    native_file = tmp_path / "n.jsonl"
    native_file.write_text(
        '{"event_id":"n1","timestamp":"2026-10-01T00:00:00Z","actor":"a","action":"viewed",'
        '"status":"success"}\n'
    )
    assert sources.detect(native_file) is native.SOURCE


def test_register_refuses_name_clashes_and_non_sources(fresh_registry: dict) -> None:
    sources.register(FakeSource())
    with pytest.raises(SourceError, match="already registered; pass replace=True"):
        sources.register(FakeSource())
    other = FakeSource()
    sources.register(other, replace=True)
    assert sources.get("fakelog") is other
    with pytest.raises(TypeError, match="does not implement"):
        sources.register(object())  # type: ignore[arg-type]
