"""End-to-end crawl of the ROCKE-3D spider against the NCCS-portal emulator (Apache table
listings, real netCDF-4 and netCDF-3 files made at test time). One crawl serves every scenario;
each test asserts on its own files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.formats.autoindex import parse_size
from spiders.base import SpiderArgumentError
from spiders.rocke3d import Rocke3DSpider
from tests.archives import ArchiveServer, Blob
from tests.archives.autoindex import human
from tests.archives.gcm import truncated
from tests.archives.rocke3d import MOUNT, Rocke3DArchive, aij_file, aijl_file, default_archive
from tests.crawl import CrawlResult, catalog_rows, run_crawl

PAPER = "publication-supplements/Tsigaridis2025GMD-planet_2.0"
RUN = f"{PAPER}/P2SAoM40_003"
ROOT = MOUNT + "publication-supplements/"
BIG = "publication-supplements/Way2018ApJS/X1/README_X1.txt"


def ap(rel: str) -> str:
    """Archive path of a path below the emulator's mount."""
    return (MOUNT + rel).lstrip("/")


@dataclass
class World:
    result: CrawlResult
    server: ArchiveServer
    blobs: dict[str, Blob]

    def paths_requested(self) -> list[str]:
        return [e.path for e in self.server.log]


def readme_text(size: int) -> bytes:
    """A plain-text README of exactly ``size`` bytes (run notes, as the real supplements have)."""
    line = b"Way2018ApJS X1: ROCKE-3D run notes, monthly and annual diagnostics (aij, aijl).\n"
    return (line * (size // len(line) + 1))[: size - 1] + b"\n"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ArchiveServer() as server:
        r3d = Rocke3DArchive(server)
        blobs = {
            f"{PAPER}/README.txt": r3d.add(f"{PAPER}/README.txt", b"P2SAoM40 -> P2SAoM40_003\n"),
            f"{RUN}/ANN4000.aijP2SAoM40.nc": r3d.add(
                f"{RUN}/ANN4000.aijP2SAoM40.nc", aij_file("NETCDF4", "P2SAoM40", 4000)
            ),
            f"{RUN}/ANN4000.aijlP2SAoM40.nc": r3d.add(
                f"{RUN}/ANN4000.aijlP2SAoM40.nc", aijl_file("NETCDF3_CLASSIC", "P2SAoM40", 4000)
            ),
            # Truncated at the publisher: served whole, but the files themselves are cut.
            f"{RUN}/ANN4001.aijP2SAoM40.nc": r3d.add(
                f"{RUN}/ANN4001.aijP2SAoM40.nc",
                truncated(aij_file("NETCDF3_CLASSIC", "P2SAoM40", 4001)),
            ),
            f"{RUN}/ANN4001.aijlP2SAoM40.nc": r3d.add(
                f"{RUN}/ANN4001.aijlP2SAoM40.nc",
                truncated(aijl_file("NETCDF4", "P2SAoM40", 4001)),
            ),
            # A file whose exact size differs from its rounded listing size (2.9M).
            BIG: r3d.add(BIG, readme_text(3_000_001)),
        }
        # Not wanted: excluded directory, files outside the include patterns, outside root.
        r3d.add(f"{PAPER}/old/ANN3000.aijP2SAoM40.nc", aij_file("NETCDF4", "P2SAoM40", 3000))
        r3d.add(f"{RUN}/P2SAoM40.R", b"rundeck\n")
        r3d.add("data-share/hab4D/run1/ANN0001.aij.nc", aij_file("NETCDF4", "hab4D", 1))
        # A server-side symlink back to the run directory itself.
        r3d.link(f"{RUN}/latest/", RUN)
        data_dir = tmp_path_factory.mktemp("rocke3d") / "data"
        result = run_crawl(
            "rocke3d",
            data_dir,
            args={
                "base_url": server.base_url,
                "root": ROOT,
                "include": "*.nc,*README*",
                "exclude": "*/old/*",
            },
        )
        assert result.returncode == 0, result.log[-3000:]
        yield World(result, server, blobs)


def test_files_stored_or_quarantined_per_file(world: World) -> None:
    statuses = world.result.statuses()
    assert statuses == {
        ap(f"{PAPER}/README.txt"): "stored",
        ap(f"{RUN}/ANN4000.aijP2SAoM40.nc"): "stored",
        ap(f"{RUN}/ANN4000.aijlP2SAoM40.nc"): "stored",
        ap(f"{RUN}/ANN4001.aijP2SAoM40.nc"): "quarantined",
        ap(f"{RUN}/ANN4001.aijlP2SAoM40.nc"): "quarantined",
        ap(BIG): "stored",
    }
    items = world.result.by_path()
    for rel, blob in world.blobs.items():
        item = items[ap(rel)]
        assert item["sha256"] == blob.sha256 and item["size"] == blob.size
        assert item["domain"] == "climate_science" and item["archive"] == "rocke3d"
        if item["status"] == "stored":
            stored = world.result.data_dir / item["path"]
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == blob.sha256


def test_netcdf_structure_recorded_in_catalog(world: World) -> None:
    rows = {
        r["archive_path"]: r
        for r in catalog_rows(world.result.data_dir, "select * from files where state='stored'")
    }
    nc4 = json.loads(rows[ap(f"{RUN}/ANN4000.aijP2SAoM40.nc")]["file_metadata"])["netcdf"]
    assert nc4["format"] == "NETCDF4" and nc4["disk_format"] == "HDF5"
    assert nc4["dimensions"] == {"lon": 8, "lat": 4, "shnhgm": 3}
    assert nc4["variables"]["tsurf"] == {
        "dims": ["lat", "lon"],
        "shape": [4, 8],
        "dtype": "float32",
        "units": "C",
        "long_name": "SURFACE AIR TEMPERATURE",
        "standard_name": "air_temperature",
    }
    attrs = nc4["global_attributes"]
    assert attrs["Conventions"] == "CF-1.6" and nc4["conventions"] == "CF-1.6"
    assert attrs["institution"] == "NASA GISS" and attrs["source"].startswith("ROCKE-3D")
    assert attrs["fromto"] == "From: 4000 JAN 1, Hr 0 To: 4001 JAN 1, Hr 0"
    classic = json.loads(rows[ap(f"{RUN}/ANN4000.aijlP2SAoM40.nc")]["file_metadata"])["netcdf"]
    assert classic["format"] == "NETCDF3_CLASSIC"
    assert classic["dimensions"] == {"time": 3, "plm": 5, "lat": 4, "lon": 8}
    assert classic["unlimited"] == ["time"]
    assert classic["variables"]["u"]["units"] == "m/s"
    assert classic["variables"]["t"]["dims"] == ["time", "plm", "lat", "lon"]
    readme = json.loads(rows[ap(f"{PAPER}/README.txt")]["file_metadata"])
    assert "netcdf" not in readme


def test_truncated_netcdf_is_quarantined_with_reason(world: World) -> None:
    items = world.result.by_path()
    classic = items[ap(f"{RUN}/ANN4001.aijP2SAoM40.nc")]
    assert "truncated netCDF" in classic["error"]
    hdf = items[ap(f"{RUN}/ANN4001.aijlP2SAoM40.nc")]
    assert "not a readable netCDF file" in hdf["error"]
    data_dir = world.result.data_dir
    for item in (classic, hdf):
        assert not (data_dir / item["path"]).exists()
        reason = data_dir / "quarantine" / (item["path"] + ".reason.json")
        assert reason.exists()
    assert world.result.stats.get("capture/inspect/quarantined") == 2


def test_listing_size_is_an_estimate_never_a_reason_to_reject(world: World) -> None:
    item = world.result.by_path()[ap(BIG)]
    text = human(3_000_001)
    assert item["metadata"]["listing_size_text"] == text == "2.9M"
    assert item["metadata"]["listing_size_estimate"] == parse_size(text) != item["size"]
    assert item["expected_size"] is None and item["size"] == 3_000_001
    assert item["status"] == "stored" and item["sha256"] == world.blobs[BIG].sha256


def test_recursion_stays_below_root_and_ignores_sort_and_parent_links(world: World) -> None:
    log = world.server.log
    assert all(e.query == "" for e in log), [e.path + "?" + e.query for e in log if e.query]
    assert all(e.path.startswith(ROOT) for e in log)
    assert not any("data-share" in e.path for e in log)


def test_include_and_exclude_patterns(world: World) -> None:
    requested = world.paths_requested()
    assert not any("/old/" in p for p in requested)  # excluded directory never listed
    assert not any(p.endswith(".R") for p in requested)  # not in the include patterns


def test_symlink_loop_is_pruned_not_recaptured(world: World) -> None:
    requested = world.paths_requested()
    latest = [p for p in requested if "/latest/" in p]
    assert latest == [MOUNT + RUN + "/latest/"]
    assert world.result.stats.get("rocke3d/listing/content_loops_pruned") == 1
    assert not any("latest" in p for p in world.result.by_path())
    # Every directory listing is fetched exactly once.
    listings = [p for p in requested if p.endswith("/")]
    assert len(listings) == len(set(listings))


# -- defaults and declared arguments --------------------------------------------------------
def test_no_arguments_capture_the_publication_supplements(tmp_path: Path) -> None:
    with ArchiveServer() as server:
        extra = default_archive(server, tmp_path / "work")
        args = {"base_url": server.base_url, **extra}
        result = run_crawl("rocke3d", tmp_path / "data", args=args)
        requested = [e.path for e in server.log]
    assert result.returncode == 0, result.log[-3000:]
    assert extra == {}
    stored = {p: i for p, i in result.by_path().items() if i["status"] == "stored"}
    run = ap(f"{RUN}/ANN4000.aijP2SAoM40.nc")
    assert run in stored and ap(f"{RUN}/ANN4000.aijlP2SAoM40.nc") in stored
    assert stored[run]["quality"]["grade"] in ("accepted", "nasa_grade")
    assert stored[run]["format"] == "netcdf"
    assert (result.data_dir / stored[run]["path"]).exists()
    assert all(p.startswith(ROOT) for p in requested)  # data-share/ is not in the default
    assert not any(p.startswith(ap("data-share")) for p in result.by_path())


def test_declared_parameters() -> None:
    params = Rocke3DSpider.param_model()
    defaults = params()
    assert defaults.root == ["/GISS_modelE/ROCKE-3D/publication-supplements/"]
    assert (defaults.include, defaults.exclude, defaults.max_depth) == ([], [], 8)
    assert defaults.render_js is False
    spider = Rocke3DSpider(
        root="GISS_modelE/ROCKE-3D/data-share/hab4D, /GISS_modelE/ROCKE-3D/publication-supplements",
        include="*.nc, *README*",
        exclude="*/old/*",
        max_depth="0",
        render_js="no",
    )
    assert spider.roots == [
        "/GISS_modelE/ROCKE-3D/data-share/hab4D/",
        "/GISS_modelE/ROCKE-3D/publication-supplements/",
    ]
    assert spider.include == ["*.nc", "*README*"] and spider.exclude == ["*/old/*"]
    assert spider.max_depth == 0 and spider.render_js is False
    assert Rocke3DSpider.declaration()["formats"] == ["netcdf", "text"]
    for bad, message in (
        ({"max_depth": "-1"}, "rocke3d: max_depth must be a non-negative integer, got '-1'"),
        ({"max_depth": "deep"}, "rocke3d: max_depth must be a non-negative integer, got 'deep'"),
        ({"root": "https://portal.nccs.nasa.gov/x/"}, "rocke3d: root: expected a path on"),
        ({"root": "/a/../b/"}, "rocke3d: root: expected a path without '.' or '..'"),
        ({"render_js": "maybe"}, "rocke3d: render_js: must be one of"),
        ({"prefix": "/x/"}, "rocke3d: unknown argument 'prefix'"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            Rocke3DSpider.check_args(bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)
