"""The software_ops dataset: a run's logs, catalog snapshot and reports captured into the data
root with their own digests and catalog rows."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import catalog_rows, run_crawl


def test_ops_bundle_captures_the_run_itself(
    tg: ThousandGenomesArchive, data_dir: Path, tmp_path: Path
) -> None:
    tg.add_file("ftp/o/a.bin", Blob("ops", 5000))
    result = run_crawl("thousand_genomes", data_dir, args={"base_url": tg.publish(), **WHOLE_TREE})
    run_id = result.items[0]["run_id"]
    proc = subprocess.run(
        [sys.executable, "-m", "capture", "ops-bundle", run_id, "--data-dir", str(data_dir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    bundle = json.loads(proc.stdout)
    paths = {Path(b["path"]).name for b in bundle}
    assert "catalog_snapshot.jsonl" in paths
    for entry in bundle:
        path = data_dir / entry["path"]
        assert entry["path"].startswith(f"software_ops/capture_ops/{run_id}/")
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
    snapshot = data_dir / f"software_ops/capture_ops/{run_id}/catalog_snapshot.jsonl"
    tables = [json.loads(line)["table"] for line in snapshot.read_text().splitlines()]
    assert {"runs", "files", "events"} <= set(tables)
    manifest = (data_dir / f"software_ops/capture_ops/{run_id}/manifest-sha256.txt").read_text()
    # The manifest lists every other file of the bundle and is cataloged itself.
    assert len(manifest.splitlines()) == len(bundle) - 1
    assert "manifest-sha256.txt" in paths
    rows = catalog_rows(
        data_dir, "select domain, archive, state, sha256 from files where domain='software_ops'"
    )
    assert len(rows) == len(bundle) and {r["state"] for r in rows} == {"stored"}
    assert {r["sha256"] for r in rows} == {b["sha256"] for b in bundle}
    # A fixity audit of the data root right after finds every file cataloged and intact.
    audit = subprocess.run(
        [sys.executable, "-m", "capture", "verify", "--full", "--data-dir", str(data_dir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "EXTRA" not in audit.stdout
