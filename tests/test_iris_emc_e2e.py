"""End-to-end crawl of the EMC spider against the EarthScope/IRIS emulator: the EarthScope
listing (absolute ``?type=file`` links, a subdirectory) and the legacy IRIS Apache index in one
crawl; the real ``PNW10-S_kmps.nc`` captured with its CF/ACDD metadata; synthetic netCDF-4 and
netCDF-3 models; a truncated and a non-netCDF model quarantined with their reasons."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spiders.base import SpiderArgumentError
from spiders.iris_emc import IrisEmcSpider, doi_of
from tests.archives import ArchiveServer, Blob
from tests.archives.iris_emc import (
    EARTHSCOPE_ROOT,
    IRIS_ROOT,
    REAL_ORIGIN,
    EmcArchive,
    default_archive,
)
from tests.archives.samples import sample_path, samples_root
from tests.crawl import CrawlResult, catalog_rows, run_crawl, sha256

SAMPLE = ("iris_emc", "emc-jnp-PNW10-S_kmps.nc")
ES = EARTHSCOPE_ROOT.lstrip("/")


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrawlResult, dict[str, Any]]]:
    work = tmp_path_factory.mktemp("emc-models")
    with ArchiveServer() as server:
        emc = EmcArchive(server, work)
        bodies: dict[str, bytes] = {}
        root = samples_root()
        real = root / Path(*SAMPLE) if root else None
        if real is not None and real.exists():
            bodies[ES + "PNW10-S_kmps.nc"] = real.read_bytes()  # served under its real name
        bodies[ES + "SYN-VP.r0.0-n4c.nc"] = emc.model("SYN-VP.r0.0-n4c.nc")
        classic = emc.model("cut.nc", fmt="NETCDF3_CLASSIC")
        bodies[ES + "CUT-model.r0.0.nc"] = classic[: len(classic) - 100]
        bodies[ES + "NOT-NETCDF.nc"] = b"\x00\x01garbage that no netCDF library can open" * 20
        bodies[ES + "older/OLD-MODEL.nc"] = emc.model(
            "old.nc", fmt="NETCDF3_CLASSIC", repository_pid="", geospatial_lat_min=None
        )
        for path, body in bodies.items():
            emc.earthscope.add(path[len(ES) :], Blob.of(body))
        emc.earthscope.add("README.txt", Blob.of(b"not a model\n"))
        na07 = emc.model("NA07_percent.nc", fmt="NETCDF3_CLASSIC", title="NA07 legacy location")
        emc.iris.add("NA07_percent.nc", Blob.of(na07))
        bodies[IRIS_ROOT.lstrip("/") + "NA07_percent.nc"] = na07
        data_dir = tmp_path_factory.mktemp("emc") / "data"
        result = run_crawl(
            "iris_emc",
            data_dir,
            args={"base_url": server.base_url, "root": f"{EARTHSCOPE_ROOT},{IRIS_ROOT}"},
            timeout=180,
        )
        assert result.returncode == 0, result.log[-3000:]
        yield result, {"server": server, "bodies": bodies}


def test_every_model_is_discovered_from_both_listings(crawl: tuple) -> None:
    result, env = crawl
    assert set(result.by_path()) == set(env["bodies"])
    server: ArchiveServer = env["server"]
    gets = [e for e in server.log if e.path.endswith(".nc")]
    assert gets and all(e.query == "" for e in gets)  # ?type=file is a hint, not the URL
    assert not server.requests_for(EARTHSCOPE_ROOT + "README.txt")
    assert server.requests_for(EARTHSCOPE_ROOT + "older/")
    for path, body in env["bodies"].items():
        item = result.by_path()[path]
        assert item["sha256"] == sha256(body) and item["domain"] == "planetary_interior"


def test_real_model_is_captured_with_its_cf_metadata(crawl: tuple) -> None:
    real = sample_path(*SAMPLE).read_bytes()
    result, _ = crawl
    item = result.by_path()[ES + "PNW10-S_kmps.nc"]
    assert item["status"] == "stored" and item["size"] == 951_180
    assert (
        item["sha256"]
        == sha256(real)
        == ("8916eb27e89c688cb21473753d7d8a2f00d033377b861115be35f31d58e6f808")
    )
    (row,) = catalog_rows(
        result.data_dir, "select * from files where archive_path=?", item["archive_path"]
    )
    meta = json.loads(row["file_metadata"])
    assert meta["geospatial_lat_min"] == 38.2 and meta["geospatial_lat_max"] == 49.0
    assert meta["geospatial_lon_min"] == -124.2 and meta["geospatial_vertical_max"] == 100
    assert (
        meta["geospatial_vertical_units"] == "km"
        and meta["geospatial_lat_units"] == "degrees_north"
    )
    assert meta["variables"]["vs"]["units"] == "km.s-1" and meta["model_variables"] == ["vs"]
    assert (
        meta["repository_pid"] == "doi:10.17611/DP/9991680" and meta["doi"] == "10.17611/DP/9991680"
    )
    assert meta["reference_doi"] == "10.1016/j.epsl.2011.06.026"
    assert meta["title"].startswith("S-velocity model for the western US")
    assert meta["summary"].startswith("S-velocity model of the Cascadia")
    assert meta["netcdf_format"] == "NETCDF3_CLASSIC"
    assert meta["dimensions"] == {"depth": 41, "latitude": 109, "longitude": 53}
    assert meta["netcdf_file"] == "PNW10-S_kmps.nc" and "emc_missing_attributes" not in meta
    # the citation is read from the file's own attributes (repository_pid, reference_pid)
    cit = json.loads(row["citation"])
    assert row["citation_doi"] == cit["doi"] == "10.17611/DP/9991680" == item["citation"]["doi"]
    assert cit["kind"] == "dataset" and cit["publisher"] == "IRIS DMC"
    assert cit["authors"] == ["Robert W. Porritt"] and cit["title"] == meta["title"]
    assert cit["related"] == [
        {
            "doi": "10.1016/j.epsl.2011.06.026",
            "text": "Porritt, Allen, Boyarko and Brudzinski (2011)",
            "kind": "publication",
        }
    ]


def test_synthetic_netcdf4_and_legacy_location(crawl: tuple) -> None:
    result, _ = crawl
    items = result.by_path()
    syn = items[ES + "SYN-VP.r0.0-n4c.nc"]
    assert syn["status"] == "stored" and syn["format"] == "netcdf"
    assert syn["metadata"]["netcdf_format"] == "NETCDF4_CLASSIC"
    assert syn["metadata"]["variables"]["vp"]["units"] == "km.s-1"
    assert syn["metadata"]["doi"] == "10.17611/dp/emc.synthetic"
    na07 = items[IRIS_ROOT.lstrip("/") + "NA07_percent.nc"]
    assert na07["status"] == "stored" and na07["metadata"]["title"] == "NA07 legacy location"
    old = items[ES + "older/OLD-MODEL.nc"]
    assert old["status"] == "stored" and old["metadata"]["doi"] is None
    assert old["metadata"]["emc_missing_attributes"] == ["geospatial_lat_min"]
    # a model without repository_pid: a citation by title, no DOI made up
    assert syn["citation"]["doi"] == "10.17611/dp/emc.synthetic"
    assert "doi" not in old["citation"] and old["citation"]["title"]


def test_broken_models_are_quarantined_with_clear_reasons(crawl: tuple) -> None:
    result, _ = crawl
    items = result.by_path()
    cut = items[ES + "CUT-model.r0.0.nc"]
    assert cut["status"] == "quarantined" and "truncated netCDF" in cut["error"]
    junk = items[ES + "NOT-NETCDF.nc"]
    assert junk["status"] == "quarantined" and "not a readable netCDF file" in junk["error"]
    for item in (cut, junk):
        q = result.data_dir / "quarantine" / item["path"]
        assert q.exists() and not (result.data_dir / item["path"]).exists()


def test_doi_of() -> None:
    assert doi_of("doi:10.17611/DP/9991680") == "10.17611/DP/9991680"
    assert doi_of("https://doi.org/10.1016/j.epsl.2011.06.026.") == "10.1016/j.epsl.2011.06.026"
    assert doi_of("") is None and doi_of(None) is None


# -- defaults, mirrors and declared arguments ------------------------------------------------
def test_no_arguments_capture_the_earthscope_models(tmp_path: Path) -> None:
    with ArchiveServer() as server:
        extra = default_archive(server, tmp_path / "work")
        args = {"base_url": server.base_url, **extra}
        result = run_crawl("iris_emc", tmp_path / "data", args=args)
        readme_requests = server.requests_for(EARTHSCOPE_ROOT + "README.txt")
    assert result.returncode == 0, result.log[-3000:]
    assert extra == {} and not readme_requests  # include=*.nc by default
    assert result.statuses() == {
        ES + "SYN-VP.r0.0-n4c.nc": "stored",
        ES + "older/OLD-MODEL.nc": "stored",
    }
    for item in result.items:
        assert item["quality"]["grade"] in ("accepted", "nasa_grade")
        assert item["format"] == "netcdf" and (result.data_dir / item["path"]).exists()


def test_real_host_links_in_a_verbatim_mirror_are_rerooted(tmp_path: Path) -> None:
    """A mirror serving the real listing unchanged links to https://data.earthscope.org: those
    links are the archive's own, fetched from the mirror, never from the real host."""
    with ArchiveServer() as server:
        emc = EmcArchive(server, tmp_path)
        emc.earthscope.link_origin = REAL_ORIGIN
        body = emc.model("MIRRORED.nc")
        emc.earthscope.add("sub/MIRRORED.nc", Blob.of(body))
        base = server.base_url
        result = run_crawl("iris_emc", tmp_path / "data", args={"base_url": base})
        fetched = server.requests_for(EARTHSCOPE_ROOT + "sub/MIRRORED.nc", "GET")
    assert result.returncode == 0, result.log[-3000:]
    (item,) = result.items
    assert item["archive_path"] == ES + "sub/MIRRORED.nc" and item["status"] == "stored"
    assert item["url"] == f"{base}{EARTHSCOPE_ROOT}sub/MIRRORED.nc"
    assert item["sha256"] == sha256(body)
    assert fetched and result.stats.get("iris_emc/listing/rerooted_links") == 2


def test_declared_parameters() -> None:
    defaults = IrisEmcSpider.param_model()()
    assert defaults.root == [EARTHSCOPE_ROOT] and defaults.include == ["*.nc"]
    assert defaults.max_depth == 20 and defaults.base_url is None
    spider = IrisEmcSpider(
        base_url="https://ds.iris.edu", root=IRIS_ROOT, include="*.nc,*.grd", max_depth=1
    )
    assert spider.roots == [IRIS_ROOT] and spider.include == ["*.nc", "*.grd"]
    assert spider.max_depth == 1 and spider.base_url == "https://ds.iris.edu"
    assert spider.on_archive_host("https://data.earthscope.org/x.nc")
    assert not spider.on_archive_host("https://example.org/x.nc")
    for bad, message in (
        ({"max_depth": "-2"}, "iris_emc: max_depth must be a non-negative integer, got '-2'"),
        ({"base_url": "gopher://ds.iris.edu"}, "iris_emc: base_url must look like"),
        ({"root": "//ds.iris.edu/files/"}, "iris_emc: root: expected a path on base_url"),
        ({"models": "x"}, "iris_emc: unknown argument 'models'"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            IrisEmcSpider.check_args(bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)
