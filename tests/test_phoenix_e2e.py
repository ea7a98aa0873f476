"""PHOENIX spider: name/range parsing, and end-to-end crawls against the Göttingen emulator --
one with listings (filters, a hidden Z directory, a listed file that is gone, header checks)
and one where no listing is available (documented-name fallback, 404 nodes skipped)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.outcomes import EXIT_PARTIAL
from spiders.base import SpiderArgumentError
from spiders.phoenix import (
    ANY,
    PhoenixSpider,
    Range,
    Spectrum,
    parse_range,
    parse_spectrum_name,
    parse_z_directory,
)
from tests.archives import ArchiveServer, Blob, Fault
from tests.archives.phoenix import (
    GRID,
    ROOT,
    WAVE,
    PhoenixArchive,
    default_archive,
    spectrum_fits,
    wave_fits,
)
from tests.crawl import CrawlResult, catalog_rows, run_crawl

SUFFIX = ".PHOENIX-ACES-AGSS-COND-2011-HiRes.fits"


def ap(rel: str) -> str:
    return (ROOT + rel).lstrip("/")


def spec(directory: str, name: str) -> str:
    return f"{GRID}/{directory}/{name}{SUFFIX}"


# -- names and ranges ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "directory", "params"),
    [  # real names from Starfish, eniric and phoenix4all (see spiders/phoenix.py)
        ("lte05800-4.50-0.0", "Z-0.0", (5800, 4.5, 0.0, 0.0)),
        ("lte02600-6.00-0.0.Alpha=+0.20", "Z-0.0.Alpha=+0.20", (2600, 6.0, 0.0, 0.2)),
        ("lte03500-0.00+0.5", "Z+0.5", (3500, 0.0, 0.5, 0.0)),
        ("lte12000-3.50-1.5.Alpha=-0.20", "Z-1.5.Alpha=-0.20", (12000, 3.5, -1.5, -0.2)),
    ],
)
def test_grid_names_round_trip(name: str, directory: str, params: tuple[float, ...]) -> None:
    spectrum = parse_spectrum_name(name + SUFFIX)
    assert spectrum == Spectrum(*params)  # type: ignore[arg-type]
    assert spectrum.filename == name + SUFFIX and spectrum.directory == directory
    assert parse_z_directory(directory) == params[2:]
    assert str(spectrum.feh) != "-0.0"  # solar is stored as 0.0, only written "-0.0"


def test_unrecognised_names() -> None:
    assert parse_spectrum_name(WAVE) is None
    assert parse_spectrum_name("lte05800-4.50-0.0.PHOENIX-ACES-AGSS-COND-2011-MedRes.fits") is None
    assert parse_z_directory("Z-0.0.Alpha=0.20x") is None


def test_ranges() -> None:
    assert parse_range("2300-12000") == parse_range("2300..12000") == parse_range("2300:12000")
    r = parse_range("-4.0-1.0")
    assert (r.lo, r.hi) == (-4.0, 1.0) and 0.0 in r and -4.0 in r and 1.5 not in r
    assert (parse_range("-2.0--1.0").lo, parse_range("-2.0--1.0").hi) == (-2, -1)
    one = parse_range("0.0")
    assert 0.0 in one and 0.2 not in one
    assert str(parse_range("-0.0")) == "0" and str(r) == "-4-1"
    for bad in ("x", "6-0", "1-2-3"):
        with pytest.raises(ValueError, match=repr(bad)):
            parse_range(bad)


def test_declared_parameters() -> None:
    """The filters are typed ranges (no filter by default: the whole grid); bad values are
    refused in one line naming the argument."""
    defaults = PhoenixSpider.param_model()()
    assert (defaults.teff, defaults.logg, defaults.feh, defaults.alpha) == (None,) * 4
    assert defaults.root == [ROOT] and defaults.max_depth == 2
    whole = PhoenixSpider()
    assert (whole.teff, whole.logg, whole.feh, whole.alpha) == (ANY,) * 4
    assert all(Spectrum(t, 0.0, -4.0, 1.2).teff in whole.teff for t in (2300, 12000))
    spider = PhoenixSpider(teff="5000-6000", logg="4.5", feh="-1.0--0.5", alpha=" 0.0..0.4 ")
    assert spider.teff == Range(5000, 6000) and spider.logg == Range(4.5, 4.5)
    assert spider.feh == Range(-1.0, -0.5) and spider.alpha == Range(0.0, 0.4)
    assert spider.args.model_dump()["teff"] == "5000-6000"
    # A JSON config gives numbers and pairs.
    assert PhoenixSpider(teff=[2300, 7000], logg=4.5).teff == Range(2300, 7000)
    assert PhoenixSpider(root="/data/v2.0/HiResFITS").roots == ["/data/v2.0/HiResFITS/"]
    for bad, message in (
        ({"teff": "hot"}, "phoenix: teff: expected a value or a range lo-hi"),
        ({"logg": "6-0"}, "phoenix: logg: the range '6-0' is empty"),
        ({"feh": [1, "x"]}, "phoenix: feh: expected a [lo, hi] pair of numbers"),
        ({"alpha": True}, "phoenix: alpha: expected a value or a range"),
        ({"max_depth": "-1"}, "phoenix: max_depth must be a non-negative integer, got '-1'"),
        ({"Teff": "5000"}, "phoenix: unknown argument 'Teff'"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            PhoenixSpider.check_args(bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)
    schema = PhoenixSpider.param_model().model_json_schema()["properties"]["teff"]
    assert {"type": "string"} in schema["anyOf"] and "2300-7000" in schema["examples"]


def test_no_arguments_capture_the_whole_grid(tmp_path: Path) -> None:
    with ArchiveServer() as server:
        extra = default_archive(server, tmp_path / "work")
        args = {"base_url": server.base_url, **extra}
        result = run_crawl("phoenix", tmp_path / "data", args=args)
        heads = [e.path for e in server.log if e.method == "HEAD"]
    assert result.returncode == 0, result.log[-3000:]
    assert extra == {} and heads == []  # everything was listed, nothing guessed
    assert result.statuses() == {
        ap(WAVE): "stored",
        ap(spec("Z-0.0", "lte02300-5.00-0.0")): "stored",
        ap(spec("Z-0.0", "lte12000-3.50-0.0")): "stored",
        ap(spec("Z-1.0", "lte05800-4.50-1.0")): "stored",
        ap(spec("Z-0.0.Alpha=+0.20", "lte05800-4.50-0.0.Alpha=+0.20")): "stored",
    }
    for item in result.items:
        assert item["quality"]["grade"] in ("accepted", "nasa_grade")
        assert item["format"] == "fits" and (result.data_dir / item["path"]).exists()


# -- crawl with listings -------------------------------------------------------------------
@dataclass
class World:
    result: CrawlResult
    server: ArchiveServer
    blobs: dict[str, Blob]

    def requested(self, method: str | None = None) -> list[str]:
        return [e.path for e in self.server.log if method is None or e.method == method]


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ArchiveServer() as server:
        phx = PhoenixArchive(server)
        blobs = {
            WAVE: phx.add(WAVE, wave_fits()),
            spec("Z-0.0", "lte05800-4.50-0.0"): phx.add_spectrum(
                "Z-0.0", f"lte05800-4.50-0.0{SUFFIX}", 5800, 4.5, 0.0, 0.0
            ),
            # The header disagrees with the name.
            spec("Z-0.0", "lte05900-4.50-0.0"): phx.add_spectrum(
                "Z-0.0", f"lte05900-4.50-0.0{SUFFIX}", 6000, 4.5, 0.0, 0.0
            ),
            # Truncated at the publisher.
            spec("Z-0.0", "lte05000-5.00-0.0"): phx.add(
                spec("Z-0.0", "lte05000-5.00-0.0"),
                spectrum_fits(5000, 5.0, 0.0, 0.0, n=4096)[:9000],
            ),
            spec("Z-0.5", "lte05000-4.00-0.5"): phx.add_spectrum(
                "Z-0.5", f"lte05000-4.00-0.5{SUFFIX}", 5000, 4.0, -0.5, 0.0
            ),
            # Z+0.5 has no listing (403): found from the documented names.
            spec("Z+0.5", "lte05000-4.50+0.5"): phx.add_spectrum(
                "Z+0.5", f"lte05000-4.50+0.5{SUFFIX}", 5000, 4.5, 0.5, 0.0
            ),
            spec("Z+0.5", "lte06000-5.00+0.5"): phx.add_spectrum(
                "Z+0.5", f"lte06000-5.00+0.5{SUFFIX}", 6000, 5.0, 0.5, 0.0
            ),
        }
        phx.hide_listing(f"{GRID}/Z+0.5")
        # A generated name whose probe never gets a clear answer (503): handed to the
        # downloader, which reports it as one failed file.
        server.fault(ROOT + spec("Z+0.5", "lte05500-4.50+0.5"), Fault("status", times=100))
        # Listed, then 404: a per-file failure.
        phx.list_without_serving(f"{GRID}/Z-0.5", f"lte05500-4.50-0.5{SUFFIX}")
        # Outside the filters: never requested.
        phx.add_spectrum("Z-0.0", f"lte06100-4.50-0.0{SUFFIX}", 6100, 4.5, 0.0, 0.0)
        phx.add_spectrum("Z-0.0", f"lte05800-3.50-0.0{SUFFIX}", 5800, 3.5, 0.0, 0.0)
        phx.add_spectrum("Z-1.0", f"lte05800-4.50-1.0{SUFFIX}", 5800, 4.5, -1.0, 0.0)
        phx.add_spectrum(
            "Z-0.0.Alpha=+0.20", f"lte05800-4.50-0.0.Alpha=+0.20{SUFFIX}", 5800, 4.5, 0.0, 0.2
        )
        phx.add("Other/readme.txt", b"not part of the HiRes grid\n")
        data_dir = tmp_path_factory.mktemp("phoenix") / "data"
        result = run_crawl(
            "phoenix",
            data_dir,
            args={
                "base_url": server.base_url,
                "teff": "5000-6000",
                "logg": "4.0-5.0",
                "feh": "-0.5-0.5",
                "alpha": "0.0",
            },
        )
        # Two files fail by design (listed then gone; a probe that never answers): partial.
        assert result.returncode == EXIT_PARTIAL, result.log[-3000:]
        assert "phoenix: partial: 2 file(s) failed" in result.log
        yield World(result, server, blobs)


def test_listed_grid_captured_with_per_file_outcomes(listed: World) -> None:
    missing = spec("Z-0.5", "lte05500-4.50-0.5")
    assert listed.result.statuses() == {
        ap(WAVE): "stored",
        ap(spec("Z-0.0", "lte05800-4.50-0.0")): "stored",
        ap(spec("Z-0.0", "lte05900-4.50-0.0")): "quarantined",
        ap(spec("Z-0.0", "lte05000-5.00-0.0")): "quarantined",
        ap(spec("Z-0.5", "lte05000-4.00-0.5")): "stored",
        ap(missing): "failed",
        ap(spec("Z+0.5", "lte05000-4.50+0.5")): "stored",
        ap(spec("Z+0.5", "lte06000-5.00+0.5")): "stored",
        ap(spec("Z+0.5", "lte05500-4.50+0.5")): "failed",
    }
    items = listed.result.by_path()
    assert "404" in items[ap(missing)]["error"]
    assert "503" in items[ap(spec("Z+0.5", "lte05500-4.50+0.5"))]["error"]
    for rel, blob in listed.blobs.items():
        item = items[ap(rel)]
        assert item["sha256"] == blob.sha256
        if item["status"] == "stored":
            stored = listed.result.data_dir / item["path"]
            assert hashlib.sha256(stored.read_bytes()).hexdigest() == blob.sha256
            assert item["path"] == f"astrophysics/phoenix/{ap(rel)}"


def test_header_disagreement_and_truncation_quarantine(listed: World) -> None:
    items = listed.result.by_path()
    wrong = items[ap(spec("Z-0.0", "lte05900-4.50-0.0"))]
    assert "PHXTEFF=6000.0 but the file name says teff=5900" in wrong["error"]
    cut = items[ap(spec("Z-0.0", "lte05000-5.00-0.0"))]
    assert "truncated FITS" in cut["error"]
    for item in (wrong, cut):
        assert (listed.result.data_dir / "quarantine" / item["path"]).exists()
        assert not (listed.result.data_dir / item["path"]).exists()


def test_grid_parameters_are_catalog_metadata(listed: World) -> None:
    rows = {r["archive_path"]: r for r in catalog_rows(listed.result.data_dir)}
    meta = json.loads(rows[ap(spec("Z-0.0", "lte05800-4.50-0.0"))]["file_metadata"])
    assert {k: meta[k] for k in ("teff", "logg", "feh", "alpha")} == {
        "teff": 5800,
        "logg": 4.5,
        "feh": 0.0,
        "alpha": 0.0,
    }
    assert meta["discovered_by"] == "listing" and meta["grid"] == GRID
    assert meta["fits"]["PHXTEFF"] == 5800.0 and meta["fits"]["PHXEOS"] == "ACES"
    assert meta["fits"]["hdus"] == 2
    assert isinstance(meta["listing_size_estimate"], int) and meta["listing_size_text"]
    hidden = json.loads(rows[ap(spec("Z+0.5", "lte06000-5.00+0.5"))]["file_metadata"])
    assert (hidden["teff"], hidden["logg"], hidden["feh"], hidden["discovered_by"]) == (
        6000,
        5.0,
        0.5,
        "pattern",
    )
    wave = json.loads(rows[ap(WAVE)]["file_metadata"])
    assert wave["kind"] == "wavelength_grid" and wave["fits"]["naxis1"] == 512
    # Searchable: a JSON query over the catalog finds the spectra by parameter.
    found = catalog_rows(
        listed.result.data_dir,
        "select archive_path from files where json_extract(file_metadata, '$.teff') = ? "
        "and json_extract(file_metadata, '$.feh') = ?",
        5000,
        0.5,
    )
    assert [r["archive_path"] for r in found] == [ap(spec("Z+0.5", "lte05000-4.50+0.5"))]


def test_filters_and_listings_decide_what_is_requested(listed: World) -> None:
    gets = listed.requested("GET")
    assert gets.count(ROOT + WAVE) == 1
    for never in ("lte06100", "lte05800-3.50", "Z-1.0", "Alpha", "Other"):
        assert not any(never in p for p in gets), never
    assert not any(e.query for e in listed.server.log)  # no sort links followed


def test_hidden_listing_falls_back_to_documented_names(listed: World) -> None:
    heads = set(listed.requested("HEAD"))  # (the 503 probe was retried)
    # 11 Teff (5000..6000 by 100) x 3 logg (4.0, 4.5, 5.0), all in Z+0.5 only.
    assert len(heads) == 33 and all("/Z+0.5/" in p for p in heads)
    stats = listed.result.stats
    assert stats.get("phoenix/pattern/probes") == 33
    assert stats.get("phoenix/pattern/found") == 2
    assert stats.get("phoenix/pattern/not_in_grid") == 30
    assert stats.get("phoenix/pattern/probe_errors") == 1
    assert stats.get("phoenix/listing/unavailable") == 1


# -- crawl without any listing -------------------------------------------------------------
@pytest.fixture(scope="module")
def unlisted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ArchiveServer() as server:
        phx = PhoenixArchive(server)
        blobs = {
            WAVE: phx.add(WAVE, wave_fits()),
            spec("Z-0.0", "lte05800-4.50-0.0"): phx.add_spectrum(
                "Z-0.0", f"lte05800-4.50-0.0{SUFFIX}", 5800, 4.5, 0.0, 0.0
            ),
            spec("Z-0.0.Alpha=+0.20", "lte05800-4.50-0.0.Alpha=+0.20"): phx.add_spectrum(
                "Z-0.0.Alpha=+0.20",
                f"lte05800-4.50-0.0.Alpha=+0.20{SUFFIX}",
                5800,
                4.5,
                0.0,
                0.2,
            ),
        }
        for rel in ("", GRID, f"{GRID}/Z-0.0", f"{GRID}/Z-0.0.Alpha=+0.20"):
            phx.hide_listing(rel)
        data_dir = tmp_path_factory.mktemp("phoenix-unlisted") / "data"
        result = run_crawl(
            "phoenix",
            data_dir,
            args={
                "base_url": server.base_url,
                "teff": "5800-5900",
                "logg": "4.5",
                "feh": "0.0",
                "alpha": "0.0-0.4",
            },
        )
        assert result.returncode == 0, result.log[-3000:]
        yield World(result, server, blobs)


def test_without_listings_documented_names_are_probed(unlisted: World) -> None:
    statuses = unlisted.result.statuses()
    assert statuses == {ap(rel): "stored" for rel in unlisted.blobs}
    stats = unlisted.result.stats
    # Z-0.0, Z-0.0.Alpha=+0.20 (hidden) and Z-0.0.Alpha=+0.40 (does not exist) x 2 Teff.
    assert stats.get("phoenix/pattern/probes") == 6
    assert stats.get("phoenix/pattern/found") == 2
    assert stats.get("phoenix/pattern/not_in_grid") == 4
    assert stats.get("phoenix/listing/unavailable") == 5
    assert not stats.get("capture/download/failed")
    # The non-existent nodes were only probed (HEAD), never fetched.
    gets = [p for p in unlisted.requested("GET") if p.endswith(".fits")]
    assert sorted(gets) == sorted(ROOT + rel for rel in unlisted.blobs)
    meta = unlisted.result.by_path()[ap(WAVE)]["metadata"]
    assert meta["discovered_by"] == "pattern"
