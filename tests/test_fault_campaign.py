"""The fault campaign (``python -m bench faults``) at a small N: random SIGKILL/SIGTERM points
and server faults across a mixed crawl (1000 Genomes, Kurucz, JWST MAST), then a clean resume,
must leave no garbled, unrecorded, lost or duplicated file. The detectors themselves are then
shown to fire on a deliberately damaged copy of the same data root."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.faults import Campaign, World, build_world, check, problems
from tests.archives import ArchiveServer

KILLS = 6
OPTIONS = {
    "delay": [0.5, 4.0],
    "bandwidth_mib": 8.0,
    "big_mib": [3, 6],
    "quality": False,
    "keep": True,
}

pytestmark = pytest.mark.slow


@dataclass
class Done:
    summary: dict[str, Any]
    world: World
    data: Path


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Done]:
    root = tmp_path_factory.mktemp("campaign")
    runner = Campaign(0, 13, KILLS, root, OPTIONS)
    with ArchiveServer(bandwidth=OPTIONS["bandwidth_mib"] * 2**20) as server:
        world = build_world(server, runner.rng, tuple(OPTIONS["big_mib"]))
        summary = runner.run(world)
        summary["root"] = str(root)
        yield Done(summary, world, root / "data")


def test_kills_and_faults_leave_no_garbled_lost_or_duplicated_file(campaign: Done) -> None:
    summary, checks = campaign.summary, campaign.summary["checks"]
    assert summary["kills"] == KILLS
    assert {c["signal"] for c in summary["cycles"]} <= {"SIGKILL", "SIGTERM"}
    assert all(c["kill"] for c in summary["cycles"])  # every kill hit a live crawl
    assert checks["garbled"] == [] and checks["sha_mismatch"] == []
    assert checks["unrecorded"] == [] and checks["stored_missing"] == []
    assert checks["lost"] == [] and checks["duplicated"] == []
    assert checks["unexpected_rows"] == [] and checks["bad_versions"] == []
    # Only a file the server changed may end unstored (new bytes, stale listed md5).
    assert all(n["changed"] for n in checks["not_stored"]), checks["not_stored"]
    assert problems(summary) == [], summary["final"]
    # A SIGTERM is a graceful stop: the crawl exits on its own, within seconds.
    assert all(not c["kill"]["stuck"] for c in summary["cycles"])


def damaged_copy(done: Done, tmp_path: Path) -> tuple[Path, sqlite3.Connection]:
    data = tmp_path / "data"
    shutil.copytree(done.data, data, symlinks=True)
    return data, sqlite3.connect(data / "catalog.sqlite")


def stored_rows(con: sqlite3.Connection) -> list[tuple[str, str]]:
    sql = "select archive_path, path from files where state = 'stored' order by id"
    return con.execute(sql).fetchall()


def test_detectors_fire_on_a_damaged_data_root(campaign: Done, tmp_path: Path) -> None:
    """The checks can fail: one flipped byte, one file nobody recorded, one row dropped."""
    assert check(campaign.world, campaign.data)["garbled"] == []  # the pristine root is clean
    data, con = damaged_copy(campaign, tmp_path)
    (flip_ap, flip_path), (lost_ap, lost_path) = stored_rows(con)[:2]
    target = data / flip_path
    raw = bytearray(target.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    target.unlink()  # a fresh inode: the twin file may share the old one (hard link)
    target.write_bytes(bytes(raw))
    (data / Path(lost_path).parent / "planted.bin").write_bytes(b"never captured")
    with con:
        con.execute("delete from files where archive_path = ?", (lost_ap,))
    con.close()

    found = check(campaign.world, data)
    assert [g["file"] for g in found["garbled"]] == [flip_ap]
    assert [m["file"] for m in found["sha_mismatch"]] == [flip_ap]
    assert [x["file"] for x in found["lost"]] == [lost_ap]
    # The dropped row's published file, and the planted one, are now unrecorded.
    assert sorted(found["unrecorded"]) == sorted(
        [lost_path, str(Path(lost_path).parent / "planted.bin")]
    )
