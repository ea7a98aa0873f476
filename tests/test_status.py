"""One status enum for items, catalog, stats, monitors and reports (capture/status.py)."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from capture import status as st
from capture.catalog.store import Catalog
from capture.items import CapturedFile, item_dict
from capture.outcomes import crawl_outcome
from capture.status import FileStatus
from capture.validation import full_errors, item_errors, schema


def test_the_json_schema_lists_exactly_the_enum() -> None:
    assert schema()["properties"]["status"]["enum"] == [s.value for s in FileStatus]


def test_subsets() -> None:
    assert set(FileStatus) - {FileStatus.DISCOVERED} - st.CATALOG_ONLY == st.FINAL
    assert st.FINAL_ORDER == ("stored", "unchanged", "quarantined", "failed", "planned")
    assert st.UNFINISHED.isdisjoint(st.FINAL)
    assert FileStatus.UNCHANGED not in st.CATALOG_STATES  # recorded as stored
    for subset in (st.RETRIED, st.PROBLEMS, st.TRANSFERRED, st.ATTEMPTED):
        assert subset <= st.FINAL
    # A retracted file keeps its bytes; it is a catalog state no stage gives an item.
    assert st.ON_DISK <= st.FINAL | st.CATALOG_ONLY and FileStatus.RETRACTED in st.ON_DISK
    assert set(st.CATALOG_STATES) >= st.CATALOG_ONLY and st.CATALOG_ONLY.isdisjoint(st.FINAL)
    assert st.FINAL - {FileStatus.PLANNED} == st.ATTEMPTED


def test_members_are_the_plain_strings_every_boundary_holds() -> None:
    item = CapturedFile(archive="a", domain="genomics", url="https://h/x", archive_path="x")
    assert item.status == "discovered" and str(item.status) == "discovered"
    assert json.loads(json.dumps(item_dict(item)))["status"] == "discovered"
    for s in FileStatus:  # both validators accept the enum member as the string
        data = item_dict(item) | {"status": s, "size": 1, "sha256": "a" * 64}
        assert item_errors(data) == full_errors(data) == []
    db = sqlite3.connect(":memory:")
    db.execute("create table t (state text)")
    db.execute("insert into t values (?)", (FileStatus.QUARANTINED,))
    assert db.execute("select state from t where state = 'quarantined'").fetchone() == (
        "quarantined",
    )
    assert "stored" in st.FINAL and "discovered" in st.UNFINISHED  # rows read back as str


def test_status_counts_reads_the_pipelines_stats() -> None:
    stats = {"capture/status/stored": 3, "capture/status/failed": None, "other": 1}
    assert st.stat_key(FileStatus.FAILED) == "capture/status/failed"
    counts = st.status_counts(stats)
    assert counts == {"stored": 3, "unchanged": 0, "quarantined": 0, "failed": 0, "planned": 0}
    assert list(counts) == list(st.FINAL_ORDER)
    assert crawl_outcome("finished", stats) == ("completed", None)


def _decide(state: str, same_run: bool = False) -> str:
    prev: dict[str, Any] = {"state": state, "last_run": "r1", "path": "p", "size": 1}
    rec = {"last_run": "r1" if same_run else "r2"}
    return Catalog._decide(prev, rec, exists=lambda path, size: False)


@pytest.mark.parametrize("state", sorted(st.ATTEMPTED))
def test_a_file_settled_earlier_in_the_same_run_is_a_duplicate(state: str) -> None:
    assert _decide(state, same_run=True) == "duplicate"


def test_the_catalog_decides_by_status_subset() -> None:
    assert _decide(FileStatus.PLANNED, same_run=True) == "retry"  # a plan is not a capture
    assert _decide(FileStatus.DISCOVERED) == "resume"
    assert {_decide(s) for s in st.RETRIED} == {"retry"}
    assert _decide(FileStatus.STORED) == "refetch"  # missing on disk
