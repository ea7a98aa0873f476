"""End-to-end crawls of the ExoCubed spider against an NCCS-style datashare emulator (nginx
autoindex listings, real netCDF files made at test time)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spiders.base import SpiderArgumentError
from spiders.exocubed import SKIP_REASON, ExoCubedSpider
from tests.archives import ArchiveServer, Blob
from tests.archives.exocubed import MOUNT, ExoCubedArchive, default_archive, run_output
from tests.archives.gcm import truncated
from tests.crawl import CrawlResult, catalog_rows, run_crawl

HJ = "hot_jupiter/C48"
DEEP = "deep/d1/d2/d3/d4"


def ap(rel: str) -> str:
    return (MOUNT + rel).lstrip("/")


@dataclass
class World:
    result: CrawlResult
    server: ArchiveServer
    blobs: dict[str, Blob]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ArchiveServer() as server:
        exo = ExoCubedArchive(server)
        files = {
            f"{HJ}/hot_jupiter-main.nc": run_output("NETCDF4", "hot_jupiter", 1),
            "hs94/C32/hs94-main.nc": run_output("NETCDF3_64BIT_OFFSET", "hs94", 2),
            "hs94/C32/hs94-restart.nc": truncated(run_output("NETCDF3_CLASSIC", "hs94", 3), 0.9),
            "hs94/C32/notes.txt": b"C32, 1000 days\n",
            f"{DEEP}/too-deep.nc": run_output("NETCDF4", "deep", 4),
        }
        blobs = {rel: exo.add(rel, data) for rel, data in files.items()}
        exo.add("hs94/C32/hs94-main.nc.tmp", b"partial upload")  # excluded by pattern
        # A directory that links to its own grandparent, deeper in the tree.
        exo.link(f"{HJ}/again/", "hot_jupiter/")
        data_dir = tmp_path_factory.mktemp("exocubed") / "data"
        result = run_crawl(
            "exocubed",
            data_dir,
            args={
                "base_url": server.base_url,
                "root": MOUNT,
                "exclude": "*.tmp",
                "max_depth": 4,
            },
        )
        assert result.returncode == 0, result.log[-3000:]
        yield World(result, server, blobs)


def test_outputs_captured_and_inspected(world: World) -> None:
    assert world.result.statuses() == {
        ap(f"{HJ}/hot_jupiter-main.nc"): "stored",
        ap("hs94/C32/hs94-main.nc"): "stored",
        ap("hs94/C32/hs94-restart.nc"): "quarantined",
        ap("hs94/C32/notes.txt"): "stored",
    }
    items = world.result.by_path()
    for rel in (f"{HJ}/hot_jupiter-main.nc", "hs94/C32/hs94-main.nc", "hs94/C32/notes.txt"):
        item, blob = items[ap(rel)], world.blobs[rel]
        stored = world.result.data_dir / item["path"]
        assert item["path"] == f"climate_science/exocubed/{ap(rel)}"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == blob.sha256 == item["sha256"]
    assert "truncated netCDF" in items[ap("hs94/C32/hs94-restart.nc")]["error"]


def test_netcdf_metadata_in_catalog(world: World) -> None:
    rows = {r["archive_path"]: r for r in catalog_rows(world.result.data_dir)}
    hj = json.loads(rows[ap(f"{HJ}/hot_jupiter-main.nc")]["file_metadata"])["netcdf"]
    assert hj["format"] == "NETCDF4"
    assert hj["dimensions"] == {"time": 3, "x1": 6, "x2": 4, "x3": 4}
    assert hj["variables"]["temp"]["units"] == "K"
    assert hj["variables"]["vlat"]["dims"] == ["time", "x1", "x2", "x3"]
    assert hj["global_attributes"]["problem_id"] == "hot_jupiter"
    assert hj["global_attributes"]["institution"] == "University of Michigan"
    hs = json.loads(rows[ap("hs94/C32/hs94-main.nc")]["file_metadata"])["netcdf"]
    assert hs["format"] == "NETCDF3_64BIT_OFFSET" and hs["conventions"] == "CF-1.6"
    # nginx shows exact byte counts; they are still only recorded as estimates.
    assert rows[ap("hs94/C32/hs94-main.nc")]["expected_size"] is None
    quarantined = rows[ap("hs94/C32/hs94-restart.nc")]
    assert quarantined["state"] == "quarantined" and "truncated" in quarantined["error"]


def test_no_loops_no_parent_links_bounded_depth(world: World) -> None:
    log = world.server.log
    paths = [e.path for e in log]
    assert all(p.startswith(MOUNT) for p in paths)  # nginx "../" never followed
    listings = [p for p in paths if p.endswith("/")]
    assert len(listings) == len(set(listings))
    # The link back to hot_jupiter/ is listed once, recognised, and not descended into.
    assert [p for p in paths if "/again/" in p] == [f"{MOUNT}{HJ}/again/"]
    assert world.result.stats.get("exocubed/listing/content_loops_pruned") == 1
    # max_depth=4: deep/d1/d2/d3 is listed (depth 4), deep/d1/d2/d3/d4 is not.
    assert f"{MOUNT}deep/d1/d2/d3/" in paths
    assert not any(p.startswith(f"{MOUNT}{DEEP}") for p in paths)
    assert world.result.stats.get("exocubed/listing/max_depth_reached") == 1
    assert not any(p.endswith(".tmp") for p in paths)


def test_no_root_is_skipped_by_design(tmp_path: Path) -> None:
    """No public ExoCubed location is known: with no arguments the spider guesses nothing,
    requests nothing, and closes as skipped with its reason (exit status 0)."""
    with ArchiveServer() as server:
        extra = default_archive(server, tmp_path / "work")
        args = {"base_url": server.base_url, **extra}
        result = run_crawl("exocubed", tmp_path / "data", args=args)
        requests = list(server.log)
    assert extra == {}
    assert result.returncode == 0, result.log[-3000:]
    assert requests == [] and result.items == []
    assert "Spider closed (skipped)" in result.log
    assert f"exocubed: skipped: {SKIP_REASON}" in result.log
    assert "Traceback" not in result.log
    stats = result.stats  # the run's record in the catalog
    assert stats["finish_reason"] == "skipped"
    assert stats["capture/skipped_reason"] == SKIP_REASON
    assert not any(k.startswith("downloader/") for k in stats)


def test_root_given_captures_the_same_tree(tmp_path: Path) -> None:
    with ArchiveServer() as server:
        default_archive(server, tmp_path / "work")
        args = {"base_url": server.base_url, "root": MOUNT}
        result = run_crawl("exocubed", tmp_path / "data", args=args)
    assert result.returncode == 0, result.log[-3000:]
    items = result.by_path()
    assert set(items) == {
        ap("hot_jupiter/C48/hot_jupiter-main.nc"),
        ap("hs94/C32/hs94-main.nc"),
    }
    for item in items.values():
        assert item["status"] == "stored", item.get("error")
        assert item["quality"]["grade"] in ("accepted", "nasa_grade")
        assert (result.data_dir / item["path"]).exists()


def test_declared_parameters() -> None:
    spider = ExoCubedSpider()  # no root: a skip, not an error
    assert spider.skip_reason == SKIP_REASON and spider.roots == []
    assert "\n" not in SKIP_REASON
    spider = ExoCubedSpider(root="/datashare/a/,/datashare/b", max_depth="3")
    assert spider.roots == ["/datashare/a/", "/datashare/b/"] and spider.max_depth == 3
    assert spider.skip_reason is None
    assert spider.base_url == "https://portal.nccs.nasa.gov"
    defaults = ExoCubedSpider.param_model()()
    assert (defaults.root, defaults.include, defaults.exclude, defaults.max_depth) == (
        [],
        [],
        [],
        8,
    )
    for bad, message in (
        ({"max_depth": "x"}, "exocubed: max_depth must be a non-negative integer, got 'x'"),
        ({"root": "/datashare/../etc/"}, "exocubed: root: expected a path without"),
        ({"roots": "/datashare/"}, "exocubed: unknown argument 'roots'"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            ExoCubedSpider.check_args(bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)
