"""``capture watch`` with real ``capture diff`` runs against the 1000 Genomes emulator: quiet
while the archive is unchanged, one webhook per change, ``--update`` fetches it, an
unreachable archive is notified once and its recovery once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.archives import ArchiveServer, Blob
from tests.crawl import DeadPort, capture_cli, catalog_rows, run_capture
from tests.test_diff_e2e import REL, config, setup_archive
from tests.test_watch import Hook


def watch(tmp_path: Path, common: list[str], hook: Hook, *extra: str) -> int:
    proc = capture_cli(
        "watch", "--every", "1s", "--max-ticks", "2", "--webhook", hook.url, *extra, *common,
        cwd=tmp_path,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc.returncode


def status(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "data" / "watch" / "status.json").read_text())
    return data


def test_watch_notifies_changes_and_breakage_once(server: ArchiveServer, tmp_path: Path) -> None:
    tg, _blobs, _entries = setup_archive(server)
    common = config(tmp_path, server)
    assert run_capture(common, tmp_path).returncode == 0
    hook = Hook()
    try:
        assert watch(tmp_path, common, hook) == 0
        assert hook.posts == []  # unchanged archive: quiet
        s = status(tmp_path)
        assert (s["ticks"], s["healthy"], s["state"]) == (2, True, "stopped")
        assert s["last_tick"]["totals"]["unchanged"]["files"] == 5

        tg.add_file(f"{REL}/chr6.vcf.gz", Blob("chr6", 7_777))
        tg.publish()
        assert watch(tmp_path, common, hook) == 0
        assert hook.kinds == ["changed"]  # two ticks saw it, one notification
        (archive,) = hook.posts[0]["archives"]
        assert archive["counts"]["new"] == {"files": 1, "bytes": 7_777}

        # --update fetches it; the change was already notified, so nothing new is sent, and
        # the second tick finds the archive and the catalog in step again.
        assert watch(tmp_path, common, hook, "--update") == 0
        assert hook.kinds == ["changed"]
        s = status(tmp_path)
        assert s["last_update"]["exit_code"] == 0 and s["last_tick"]["change_key"] is None
        rows = catalog_rows(tmp_path / "data", "select archive_path, state from files")
        assert {"archive_path": f"vol1/{REL}/chr6.vcf.gz", "state": "stored"} in rows

        # The archive becomes unreachable: one "broken", then one "recovered".
        dead = json.loads((tmp_path / "round.json").read_text())
        with DeadPort() as port:
            dead["mirrors"]["thousand_genomes"] = f"http://127.0.0.1:{port.port}"
            (tmp_path / "dead.json").write_text(json.dumps(dead))
            broken = [*common]
            broken[broken.index("--config") + 1] = str(tmp_path / "dead.json")
            assert watch(tmp_path, broken, hook) == 4
        assert hook.kinds == ["changed", "broken"]
        assert status(tmp_path)["consecutive_failures"] == 2
        assert watch(tmp_path, common, hook) == 0
        assert hook.kinds == ["changed", "broken", "recovered"]
    finally:
        hook.server.shutdown()
