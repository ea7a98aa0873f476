"""Failure triage across runs (capture/reports/triage.py, capture/catalog/requeue.py and the
``capture failures`` / ``capture retry --failed`` commands) on a catalog built in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from capture.catalog import Catalog, catalog_url_for
from capture.catalog.requeue import requeue
from capture.reports.triage import consecutive_problem_runs, triage
from tests.crawl import capture_cli

NOT_FOUND = "HTTP 404 Not Found"
UNAVAILABLE = "HTTP 503 Service Unavailable"
MISMATCH = "md5 mismatch: publisher (listing) says 0000, received abcd"


def settle(
    catalog: Catalog,
    archive: str,
    path: str,
    run: str,
    status: str,
    error: str | None = None,
    http: int = 200,
) -> int:
    """One run's capture of a file as the pipelines record it: listed (register), one transfer
    attempt, then its final state with an outcome event. Event times follow the run number."""
    at = f"2025-01-0{run[-1]}T00:00:00Z"
    record = {
        "archive": archive,
        "archive_path": path,
        "domain": "astronomy",
        "url": f"http://h/{archive}/{path}",
        "path": f"astronomy/{archive}/{path}",
        "spider": f"{archive}_spider",
        "last_run": run,
        "expected_size": 10,
        "digest_algorithm": "md5",
        "digest_expected": "0000",
        "item": {
            "archive": archive,
            "domain": "astronomy",
            "url": f"http://h/{archive}/{path}",
            "archive_path": path,
            "path": f"astronomy/{archive}/{path}",
            "expected_size": 10,
            "spider": f"{archive}_spider",
            "checksum": {"algorithm": "md5", "expected": "0000", "source": "listing"},
        },
    }
    with catalog.engine.begin() as conn:
        (reg,) = catalog.register(conn, [record])
        attempt = {"at": at, "kind": "attempt", "range_from": 0, "status": http}
        if http >= 400:
            attempt["outcome"] = "http_error"
        outcome = {"at": at, "kind": "outcome", "status": status, "error": error}
        item = {**record["item"], "status": status, "error": error, "size": 10, "sha256": "ab"}
        catalog.finish(
            conn,
            reg.file_id,
            {"state": status, "error": error, "last_run": run, "item": item, "size": 10},
            [attempt, outcome],
            run_id=run,
        )
    return reg.file_id


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Three runs of two archives: a file missing three runs in a row (needs attention), one
    that broke after a success, one quarantined once, one stored, one that recovered."""
    catalog = Catalog(catalog_url_for(tmp_path))
    for run in ("r1", "r2", "r3"):
        settle(catalog, "a", "x.fits", run, "failed", NOT_FOUND, http=404)
    settle(catalog, "a", "y.fits", "r1", "stored")
    settle(catalog, "a", "y.fits", "r2", "failed", UNAVAILABLE, http=503)
    settle(catalog, "a", "y.fits", "r3", "failed", UNAVAILABLE, http=503)
    settle(catalog, "b", "z.fits", "r3", "quarantined", MISMATCH)
    settle(catalog, "a", "w.fits", "r1", "stored")
    settle(catalog, "b", "v.fits", "r1", "failed", UNAVAILABLE, http=503)
    settle(catalog, "b", "v.fits", "r2", "stored")
    catalog.close()
    return tmp_path


@pytest.fixture
def catalog(root: Path) -> Any:
    cat = Catalog(catalog_url_for(root))
    yield cat
    cat.close()


def files_of(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["path"]: f for g in report["groups"] for f in g["files"]}


def test_groups_by_cause_and_archive_attention_first(catalog: Catalog) -> None:
    report = triage(catalog, attention_rounds=3)
    assert (report["total"], report["needs_attention"]) == (3, 1)
    assert [
        (g["cause"], g["archive"], g["count"], g["needs_attention"]) for g in report["groups"]
    ] == [
        ("not_found", "a", 1, 1),
        ("checksum_mismatch", "b", 1, 0),
        ("server_error", "a", 1, 0),
    ]
    assert report["groups"][0]["advice"].startswith("listed but not served")
    files = files_of(report)
    assert set(files) == {"x.fits", "y.fits", "z.fits"}  # stored and recovered files are not
    assert (files["z.fits"]["state"], files["z.fits"]["error"]) == ("quarantined", MISMATCH)


def test_attempt_history_is_oldest_first_with_error_class_and_message(catalog: Catalog) -> None:
    history = files_of(triage(catalog))["y.fits"]["history"]
    assert [(h["run_id"], h["kind"], h["error_class"]) for h in history] == [
        ("r1", "attempt", None),
        ("r1", "outcome", None),
        ("r2", "attempt", "server_error"),
        ("r2", "outcome", "server_error"),
        ("r3", "attempt", "server_error"),
        ("r3", "outcome", "server_error"),
    ]
    assert [h["at"] for h in history] == sorted(h["at"] for h in history)
    assert history[2]["message"] == "HTTP 503 (http_error)"
    assert history[3]["message"] == UNAVAILABLE


def test_consecutive_rounds_and_needs_attention_follow_the_setting(catalog: Catalog) -> None:
    files = files_of(triage(catalog, attention_rounds=3))
    assert {p: (f["rounds"], f["needs_attention"]) for p, f in files.items()} == {
        "x.fits": (3, True),
        "y.fits": (2, False),  # stored in r1 breaks the streak
        "z.fits": (1, False),
    }
    files = files_of(triage(catalog, attention_rounds=2))
    assert [p for p, f in files.items() if f["needs_attention"]] == ["x.fits", "y.fits"]
    assert not any(
        f["needs_attention"] for f in files_of(triage(catalog, attention_rounds=0)).values()
    )


def test_a_run_counts_once_by_its_last_outcome() -> None:
    def outcome(run: str, status: str) -> dict[str, Any]:
        return {"kind": "outcome", "run_id": run, "detail": {"status": status}}

    # r2 failed, then its resume stored the file: r2 ended well, only r3 counts.
    events = [outcome("r1", "failed"), outcome("r2", "failed"), outcome("r2", "stored")]
    assert consecutive_problem_runs([*events, outcome("r3", "quarantined")]) == 1
    assert consecutive_problem_runs(events[:2]) == 2
    assert consecutive_problem_runs([]) == 0


def test_archive_and_cause_filters(catalog: Catalog) -> None:
    assert set(files_of(triage(catalog, archive="b"))) == {"z.fits"}
    assert set(files_of(triage(catalog, cause="server_error"))) == {"y.fits"}
    assert triage(catalog, archive="b", cause="not_found")["total"] == 0
    assert triage(catalog, archive="nope")["groups"] == []


def test_requeue_moves_state_to_discovered_and_records_an_event(catalog: Catalog) -> None:
    files = files_of(triage(catalog))
    z, w = files["z.fits"]["id"], None
    with catalog.engine.begin() as conn:
        w = catalog.get(conn, "a", "w.fits")["id"]  # type: ignore[index]
        assert requeue(conn, [(z, "checksum_mismatch"), (w, "other")]) == 1  # stored: untouched
    with catalog.engine.connect() as conn:
        row = catalog.get(conn, "b", "z.fits")
        assert row is not None and row["state"] == "discovered"
        assert row["error"] == MISMATCH  # the last error stays until the next outcome
        # The re-drive rebuilds the request from a clean listing item, not the failed outcome.
        assert row["item"]["status"] == "discovered"
        assert (row["item"]["error"], row["item"]["size"], row["item"]["sha256"]) == (None,) * 3
        assert row["item"]["checksum"]["expected"] == "0000"
        assert [i["archive_path"] for _, i in catalog.unfinished(conn, "b")] == ["z.fits"]
        last = catalog.events_for(conn, z)[-1]
        assert (last["kind"], last["run_id"]) == ("requeued", None)
        assert last["detail"] == {
            "cause": "checksum_mismatch",
            "from": "quarantined",
            "error": MISMATCH,
        }
        assert catalog.get(conn, "a", "w.fits")["state"] == "stored"  # type: ignore[index]
    assert set(files_of(triage(catalog))) == {"x.fits", "y.fits"}


def test_cli_failures_and_retry(root: Path) -> None:
    data = ["--data-dir", str(root)]
    done = capture_cli("failures", "--json", *data, cwd=root)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["total"], report["needs_attention"], report["attention_rounds"]) == (3, 1, 3)

    table = capture_cli("failures", "--archive", "a", *data, cwd=root)
    assert table.returncode == 0, table.stderr
    assert "2 failed or quarantined file(s), 1 need attention" in table.stdout
    assert "not_found · a" in table.stdout and "z.fits" not in table.stdout

    dry = capture_cli("retry", "--failed", "--dry-run", *data, cwd=root)
    assert dry.returncode == 0, dry.stderr
    assert "would re-queue 2 file(s)" in dry.stdout
    assert "1 file(s) need attention and were left out" in dry.stdout
    assert json.loads(capture_cli("failures", "--json", *data, cwd=root).stdout) == report

    done = capture_cli("retry", "--failed", "--cause", "server_error", *data, cwd=root)
    assert done.returncode == 0, done.stderr
    assert "re-queued 1 file(s)" in done.stdout
    assert f"capture crawl a_spider -s CAPTURE_DATA_DIR={root}" in done.stdout
    done = capture_cli("retry", "--failed", "--include-attention", *data, cwd=root)
    assert "re-queued 2 file(s)" in done.stdout and "left out" not in done.stdout

    empty = capture_cli("failures", *data, cwd=root)
    assert (empty.returncode, empty.stdout.strip()) == (0, "no failed or quarantined files")
    missing = capture_cli("failures", "--data-dir", str(root / "none"), cwd=root)
    assert missing.returncode == 2 and "no catalog" in missing.stderr
    assert capture_cli("retry", *data, cwd=root).returncode == 2  # --failed is required
