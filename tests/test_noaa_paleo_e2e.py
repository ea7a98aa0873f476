"""End-to-end crawls of the NOAA paleo spider against the NCEI emulator: limit/skip paging
through a malformed page to the final 204, study metadata in the catalog (the real recorded
search reply where available), old-host, mirror-host and offsite file links, the keywords
filter, the ``geocarb`` profile and the default (``co2``) search."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from spiders.noaa_paleo import site_metadata
from tests.archives import ArchiveServer
from tests.archives.noaa_paleo import SEARCH, NoaaPaleoArchive, study
from tests.archives.samples import sample_path, samples_root
from tests.crawl import CrawlResult, catalog_rows, run_crawl, sha256

PALEO = "https://www.ncei.noaa.gov/pub/data/paleo"
SAMPLE_JSON = ("noaa_paleo", "study_search_response_3studies.json")
SAMPLE_LEGACY = ("noaa_paleo", "legacy_wdc_readme_ellwood2000.txt")
LEGACY_SYNTHETIC = (
    b"Synthetic Interglacial Data: Readme file\n"
    b"              World Data Center for Paleoclimatology, Boulder\n"
    b"NAME OF DATA SET: Synthetic\n"
)


def sample_bytes(parts: tuple[str, str]) -> bytes | None:
    root = samples_root()
    path = root / Path(*parts) if root else None
    return path.read_bytes() if path is not None and path.exists() else None


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrawlResult, dict[str, Any]]]:
    with ArchiveServer() as server:
        noaa = NoaaPaleoArchive(server)
        dup = f"{PALEO}/contributions_by_author/emu2020/emu2020-a.txt"
        noaa.add_study(study("100001", "Emulated core A", [dup, dup], lat="10.5", lon="-20.25"))
        old_host = (
            "http://www1.ncdc.noaa.gov/pub/data/paleo/contributions_by_author/old2001/old.txt"
        )
        noaa.add_study(
            study("100002", "Old host study", [old_host, "https://www.pangaea.de/x.tab"], lat="?")
        )
        legacy = sample_bytes(SAMPLE_LEGACY) or LEGACY_SYNTHETIC
        legacy_url = f"{PALEO}/contributions_by_author/ellwood2000/readme_ellwood2000.txt"
        noaa.add_study(study("100003", "Legacy WDC study", [legacy_url]), {legacy_url: legacy})
        for n in (4, 5, 6):  # the page that holds these is served as broken JSON
            noaa.add_study(study(f"10000{n}", f"Lost study {n}", [f"{PALEO}/lost/lost{n}.txt"]))
        noaa.broken_skips.add(3)
        real = sample_bytes(SAMPLE_JSON)
        sample_studies = noaa.add_sample_studies(real) if real else []
        data_dir = tmp_path_factory.mktemp("noaa") / "data"
        result = run_crawl(
            "noaa_paleo",
            data_dir,
            args={"base_url": server.base_url, "page_size": "3", "profile": "none"},
            timeout=180,
        )
        # Partial: the malformed page's studies are lost (an update must not call them gone).
        assert result.returncode == 3, result.log[-3000:]
        yield result, {"noaa": noaa, "server": server, "samples": sample_studies, "legacy": legacy}


def searches(env: dict[str, Any]) -> list[dict[str, str]]:
    return env["noaa"].searches


def test_paging_with_limit_and_skip_past_a_malformed_page(crawl: tuple) -> None:
    result, env = crawl
    skips = [int(s["skip"]) for s in searches(env)]
    expected = [0, 3, 6, 9] if env["samples"] else [0, 3, 6]
    assert skips == expected
    assert all(s["limit"] == "3" and s["dataPublisher"] == "NOAA" for s in searches(env))
    # the last page answered 204: paging ended there, cleanly
    last = env["server"].requests_for(SEARCH)[-1]
    assert last.status == 204 and result.stats.get("noaa_paleo/search/no_more_results") == 1
    # the broken page: a clear error, its studies lost, every other file captured
    assert result.stats.get("noaa_paleo/search/malformed_pages") == 1
    assert result.stats.get("noaa_paleo/search/listing_failed") == 1
    assert "is not valid search JSON" in result.log and "skip=3" in result.log
    paths = set(result.by_path())
    assert not any("/lost/" in p for p in paths)
    assert "pub/data/paleo/contributions_by_author/emu2020/emu2020-a.txt" in paths
    assert set(result.statuses().values()) == {"stored"}


def test_study_metadata_is_in_the_catalog(crawl: tuple) -> None:
    result, env = crawl
    path = "pub/data/paleo/contributions_by_author/emu2020/emu2020-a.txt"
    item = result.by_path()[path]
    assert item["url"] == f"{env['server'].base_url}/{path}"
    assert item["domain"] == "geochemistry" and item["archive"] == "noaa_paleo"
    body = env["noaa"].files["/" + path]
    assert item["sha256"] == sha256(body) == sha256((result.data_dir / item["path"]).read_bytes())
    (row,) = catalog_rows(result.data_dir, "select * from files where archive_path=?", path)
    meta = json.loads(row["file_metadata"])
    assert meta["NOAAStudyId"] == "100001" and meta["doi"] == "https://doi.org/10.25921/emu-100001"
    assert meta["investigators"] == "Doe, J.; Roe, R."
    assert meta["site"]["latitude"] == 10.5 and meta["site"]["longitude"] == -20.25
    assert meta["earliestYearBP"] == 12000 and meta["mostRecentYearCE"] == 1950
    assert "earth science>paleoclimate>paleocean>oxygen isotopes" in meta["keywords"]
    assert meta["text_layout"] == "noaa_template" and meta["lines"] > 10
    # one file listed by two data tables is captured once (the real reply has one too)
    assert result.stats.get("noaa_paleo/files/duplicate") == (2 if env["samples"] else 1)
    assert len(env["server"].requests_for("/" + path, "GET")) == 1


def test_old_host_is_rerooted_and_other_archives_are_skipped(crawl: tuple) -> None:
    result, env = crawl
    path = "pub/data/paleo/contributions_by_author/old2001/old.txt"
    item = result.by_path()[path]
    assert item["status"] == "stored" and item["url"] == f"{env['server'].base_url}/{path}"
    assert item["metadata"]["file"]["fileUrl"].startswith("http://www1.ncdc.noaa.gov/")
    assert item["metadata"]["site"]["latitude"] is None  # "?" is no coordinate
    assert result.stats.get("noaa_paleo/files/not_in_paleo_tree") == 1
    assert not any("pangaea" in p for p in result.by_path())


def test_legacy_wdc_file(crawl: tuple) -> None:
    result, env = crawl
    item = result.by_path()[
        "pub/data/paleo/contributions_by_author/ellwood2000/readme_ellwood2000.txt"
    ]
    assert item["status"] == "stored" and item["sha256"] == sha256(env["legacy"])
    assert item["metadata"]["text_layout"] == "legacy_wdc"


def test_real_search_reply_studies(crawl: tuple) -> None:
    raw = json.loads(sample_path(*SAMPLE_JSON).read_bytes())
    result, _ = crawl
    items = result.by_path()
    khider = items["pub/data/paleo/contributions_by_author/khider2011/khider2011.txt"]
    meta = khider["metadata"]
    assert meta["NOAAStudyId"] == "18315" and meta["doi"] == "https://doi.org/10.25921/3ee7-kx97"
    assert meta["site"]["latitude"] == 1.4033 and meta["site"]["longitude"] == 119.078
    assert meta["earliestYearCE"] == 704 and meta["mostRecentYearBP"] == 99
    assert meta["dataType"] == "PALEOCEANOGRAPHY"
    assert "earth science>paleoclimate>paleocean>oxygen isotopes" in meta["keywords"]
    assert meta["publication_dois"] == ["10.1029/2011PA002139"]
    urls = {
        f["fileUrl"]
        for s in raw["study"]
        for site in s["site"]
        for t in site["paleoData"]
        for f in t["dataFile"]
    }
    wanted = {urlsplit(u).path.lstrip("/") for u in urls}
    assert wanted <= set(items) and len(wanted) == 5  # cascayunga2009.txt is listed twice
    assert all(items[p]["status"] == "stored" for p in wanted)


def test_keywords_without_results_end_at_204(tmp_path: Path, server: ArchiveServer) -> None:
    noaa = NoaaPaleoArchive(server)
    noaa.add_study(study("300001", "Some core", [f"{PALEO}/x/x.txt"]))
    result = run_crawl(
        "noaa_paleo",
        tmp_path / "data",
        args={"base_url": server.base_url, "keywords": "no such keyword,nor this"},
    )
    assert result.returncode == 0, result.log[-2000:]
    assert result.items == []
    (query,) = noaa.searches
    assert query["keywords"] == "no such keyword|nor this" and query["keywordsAndOr"] == "or"
    assert [r.status for r in server.requests_for(SEARCH)] == [204]
    assert "no (more) results" in result.log


def test_geocarb_profile_targets_phanerozoic_co2(tmp_path: Path, server: ArchiveServer) -> None:
    noaa = NoaaPaleoArchive(server, page_links=True)
    geocarb = f"{PALEO}/climate_forcing/trace_gases/phanerozoic_co2.txt"
    noaa.add_study(
        study(
            "200001",
            "Phanerozoic Atmospheric CO2 (GEOCARB III)",
            [geocarb],
            earliest_bp=570_000_000,
            recent_bp=0,
            keywords=("earth science>paleoclimate>climate forcing>carbon dioxide",),
        )
    )
    noaa.add_study(
        study("200002", "EPICA Dome C CO2", [f"{PALEO}/icecore/edc-co2.txt"], earliest_bp=800_000)
    )
    noaa.add_study(
        study("200003", "Cenozoic benthic d18O", [f"{PALEO}/x/d18o.txt"], earliest_bp=66_000_000)
    )
    result = run_crawl(
        "noaa_paleo", tmp_path / "data", args={"base_url": server.base_url, "profile": "geocarb"}
    )
    assert result.returncode == 0, result.log[-2000:]
    (query,) = noaa.searches
    assert query["searchText"] == "CO2" and query["timeFormat"] == "BP"
    assert query["earliestYear"] == "541000000" and query["timeMethod"] == "overAny"
    assert result.statuses() == {
        "pub/data/paleo/climate_forcing/trace_gases/phanerozoic_co2.txt": "stored"
    }
    item = result.items[0]
    assert (
        item["metadata"]["profile"] == "geocarb"
        and item["metadata"]["earliestYearBP"] == 570_000_000
    )
    # the reply carried NOAA's page member without "next": no second page was asked for
    assert len(server.requests_for(SEARCH)) == 1
    assert parse_qs(server.requests_for(SEARCH)[0].query)["dataPublisher"] == ["NOAA"]


def test_site_coordinates_are_floats() -> None:
    site = {
        "geo": {
            "geometry": {"type": "POINT", "coordinates": ["-6.067", "-77.183"]},
            "properties": {"southernmostLatitude": "-6.067", "minElevationMeters": "900"},
        }
    }
    meta = site_metadata(site)
    assert (meta["latitude"], meta["longitude"]) == (-6.067, -77.183)
    assert meta["bbox"]["south"] == -6.067 and meta["elevation_m"]["min"] == 900.0


def test_search_parameters_from_arguments() -> None:
    from spiders.base import SpiderArgumentError
    from spiders.noaa_paleo import NoaaPaleoSpider

    spider = NoaaPaleoSpider(keywords="CO2", query="dataTypeId=2&searchText=boron", page_size="10")
    query = parse_qs(urlsplit(spider.search_url(20)).query)
    assert query["keywords"] == ["CO2"] and "keywordsAndOr" not in query  # one value: no AndOr
    assert query["dataTypeId"] == ["2"] and query["searchText"] == ["boron"]
    assert (query["limit"], query["skip"], query["dataPublisher"]) == (["10"], ["20"], ["NOAA"])
    for bad in ({"profile": "nope"}, {"page_size": "0"}, {"max_studies": "x"}):
        with pytest.raises(SpiderArgumentError):
            NoaaPaleoSpider(**bad)


def test_no_arguments_capture_the_co2_series(tmp_path: Path, server: ArchiveServer) -> None:
    """The default search (profile co2) against the default archive, quality scoring on:
    GEOCARB III and the ice-core CO2 record are captured, the d18O study is not."""
    from tests.archives.noaa_paleo import default_archive

    assert default_archive(server, tmp_path / "work") == {}
    result = run_crawl("noaa_paleo", tmp_path / "data", args={"base_url": server.base_url})
    assert result.returncode == 0, result.log[-3000:]
    (query,) = [parse_qs(r.query) for r in server.requests_for(SEARCH)]
    assert query["searchText"] == ["CO2"] and query["dataPublisher"] == ["NOAA"]
    assert "earliestYear" not in query and query["limit"] == ["100"]
    items = result.by_path()
    assert set(items) == {
        "pub/data/paleo/climate_forcing/trace_gases/phanerozoic_co2.txt",
        "pub/data/paleo/icecore/antarctica/epica_domec/edc-co2.txt",
    }
    for item in items.values():
        assert item["status"] == "stored" and item["url"].startswith(server.base_url)
        assert item["quality"]["grade"] in ("accepted", "nasa_grade"), item["quality"]
        assert item["metadata"]["profile"] == "co2"
    assert not server.requests_for("/pub/data/paleo/x/d18o.txt")


def test_file_urls_on_the_mirrors_own_host_are_captured(
    tmp_path: Path, server: ArchiveServer
) -> None:
    """A mirror given as base_url answers with fileUrl on its own host:port: those files are
    the archive's (issue: every file was skipped); a NOAA host is still re-rooted on the
    mirror; the same host on another port is another server, and skipped."""
    noaa = NoaaPaleoArchive(server)
    own = f"{server.base_url}/pub/data/paleo/contributions_by_author/mirror2024/m.txt"
    real = f"{PALEO}/contributions_by_author/mirror2024/real.txt"
    other = f"http://127.0.0.1:{server.port + 1}/pub/data/paleo/elsewhere/e.txt"
    noaa.add_study(study("400001", "Mirrored CO2 study", [own, real, other]))
    result = run_crawl(
        "noaa_paleo", tmp_path / "data", args={"base_url": server.base_url, "keywords": "emu"}
    )
    assert result.returncode == 0, result.log[-2000:]
    prefix = "pub/data/paleo/contributions_by_author/mirror2024"
    assert result.statuses() == {f"{prefix}/m.txt": "stored", f"{prefix}/real.txt": "stored"}
    for item in result.items:
        assert item["url"] == f"{server.base_url}/{item['archive_path']}"
    assert result.by_path()[f"{prefix}/m.txt"]["metadata"]["file"]["fileUrl"] == own
    assert result.stats.get("noaa_paleo/files/not_in_paleo_tree") == 1
    assert {e.headers.get("host") for e in server.log} == {f"127.0.0.1:{server.port}"}


def test_declared_parameters() -> None:
    from spiders.base import SpiderArgumentError
    from spiders.noaa_paleo import NoaaPaleoSpider

    spider = NoaaPaleoSpider()
    assert spider.profile == "co2" and spider.page_size == 100 and spider.max_studies is None
    assert spider.params == {"dataPublisher": "NOAA", "searchText": "CO2"}
    spider = NoaaPaleoSpider(keywords="a, b", page_size="25", max_studies="7")
    assert spider.profile is None and (spider.page_size, spider.max_studies) == (25, 7)
    assert spider.params == {"dataPublisher": "NOAA", "keywords": "a|b", "keywordsAndOr": "or"}
    assert NoaaPaleoSpider(query="dataTypeId=2").params == {
        "dataPublisher": "NOAA",
        "dataTypeId": "2",
    }
    assert NoaaPaleoSpider(profile="none").params == {"dataPublisher": "NOAA"}
    geocarb = NoaaPaleoSpider(profile="geocarb", keywords="CO2")
    assert geocarb.params["earliestYear"] == "541000000" and geocarb.params["keywords"] == "CO2"
    for bad, name in (
        ({"profile": "nope"}, "profile"),
        ({"page_size": "0"}, "page_size"),
        ({"max_studies": "x"}, "max_studies"),
        ({"query": "limit=5"}, "query"),
        ({"query": "no-equals-sign"}, "query"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            NoaaPaleoSpider.check_args(bad)
        message = str(err.value)
        assert message.startswith(f"noaa_paleo: {name}") and "\n" not in message, message
