"""A JOBDIR that Scrapy left cut short (a full disk or a kill while it saved the queue state)
is set aside, and the crawl starts afresh from the catalog instead of crashing on every
resume (issue 13)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from capture.context import RUN_ID_FILE
from capture.jobdir import set_aside_if_unreadable, unreadable_parts
from tests.archives import ArchiveServer, Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import catalog_rows, run_crawl


def test_cut_short_jobdir_is_set_aside_keeping_the_run_id(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    job = tmp_path / "job"
    (job / "requests.queue").mkdir(parents=True)
    (job / "requests.queue" / "active.json").write_text("")
    (job / "spider.state").write_bytes(b"")
    (job / RUN_ID_FILE).write_text("round1_x\n")
    assert unreadable_parts(job) == ["requests.queue/active.json", "spider.state"]
    with caplog.at_level(logging.WARNING):
        aside = set_aside_if_unreadable(job)
    assert aside is not None and aside.is_dir() and (aside / "spider.state").exists()
    assert sorted(p.name for p in job.iterdir()) == [RUN_ID_FILE]
    assert (job / RUN_ID_FILE).read_text() == "round1_x\n"
    assert "could not be loaded" in caplog.text
    assert set_aside_if_unreadable(job) is None  # a readable (fresh) JOBDIR is left alone


def test_readable_jobdir_is_left_alone(tmp_path: Path) -> None:
    job = tmp_path / "job"
    (job / "requests.queue").mkdir(parents=True)
    (job / "requests.queue" / "active.json").write_text("{}")
    assert unreadable_parts(job) == [] and set_aside_if_unreadable(job) is None
    assert set_aside_if_unreadable(None) is None


def test_crawl_resumes_from_the_catalog_when_scrapy_state_is_cut_short(tmp_path: Path) -> None:
    with ArchiveServer() as server:
        tg = ThousandGenomesArchive(server)
        for i in range(4):
            tg.add_file(f"ftp/a/f{i}.bin", Blob(f"a{i}", 5000))
        data, job = tmp_path / "data", tmp_path / "job"
        settings = {"JOBDIR": str(job)}
        args = {"base_url": tg.publish(), **WHOLE_TREE}
        first = run_crawl("thousand_genomes", data, args=args, settings=settings)
        assert first.returncode == 0, first.log[-3000:]
        # What a full disk leaves behind: Scrapy's close-time state files empty.
        (job / "requests.queue" / "active.json").write_text("")
        (job / "spider.state").write_bytes(b"")
        run_id = (job / RUN_ID_FILE).read_text()
        for i in range(2):
            tg.add_file(f"ftp/b/g{i}.bin", Blob(f"b{i}", 5000))
        args["base_url"] = tg.publish()
        again = run_crawl("thousand_genomes", data, args=args, settings=settings)
        assert again.returncode == 0, again.log[-3000:]
        assert "Traceback" not in again.log and "could not be loaded" in again.log
        assert (job / RUN_ID_FILE).read_text() == run_id  # the same run, resumed
        rows = catalog_rows(data)
        assert len(rows) == 6 and {r["state"] for r in rows} == {"stored"}
        assert len({r["archive_path"] for r in rows}) == 6
        assert list(tmp_path.glob("job.unreadable-*"))


def test_run_ids_started_in_the_same_second_differ() -> None:
    """A re-crawl started within a second of the previous one got the same id, and the catalog
    took every file for a duplicate of that run (the second crawl exported nothing)."""
    import re

    from capture.runids import new_run_id

    ids = {new_run_id("thousand_genomes") for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"thousand_genomes_\d{8}_\d{6}_[0-9a-f]{6}", i) for i in ids)
