"""End-to-end crawl of the Kurucz spider: ``/grids/`` Apache fancy indexes plus ``grids.html``
(upper-case anchors, absolute URLs to the real host), include/exclude patterns, listing sizes
as estimates only, and the one recorded real listing line served verbatim when available."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capture.formats.autoindex import IndexEntry, parse_index, parse_size
from capture.outcomes import EXIT_PARTIAL
from spiders.base import SpiderArgumentError
from spiders.kurucz import KuruczSpider
from tests.archives import ArchiveServer, Blob
from tests.archives.autoindex import DATE, human
from tests.archives.kurucz import (
    REAL_ORIGIN,
    KuruczArchive,
    default_archive,
    flux_file,
    model_atmospheres,
)
from tests.archives.samples import sample_path, samples_root
from tests.crawl import CrawlResult, catalog_rows, run_crawl

RECORDED_NAME = "am40ak2odfnew.dat"


def recorded_line() -> str | None:
    """The verbatim Apache listing line quoted in shared/samples/kurucz/SOURCE.md."""
    root = samples_root()
    source = root / "kurucz" / "SOURCE.md" if root else None
    if source is None or not source.exists():
        return None
    for line in source.read_text().splitlines():
        if f'href="{RECORDED_NAME}"' in line:
            return line.strip()
    return None


def listing_line(name: str, size_text: str) -> str:
    """A line in the same format as the recorded one."""
    return (
        f'<img src="/icons/blank.gif" alt="[   ]" width="20" height="20"> '
        f'<a href="{name}">{name}</a>{" " * max(1, 27 - len(name))}{DATE}  {size_text}  '
    )


def ap(rel: str) -> str:
    return f"grids/{rel}"


@dataclass
class World:
    result: CrawlResult
    server: ArchiveServer
    blobs: dict[str, Blob]
    recorded: bool


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with ArchiveServer() as server:
        kz = KuruczArchive(server)
        blobs = {
            "gridP00ODFNEW/ap00k2odfnew.dat": kz.add(
                "gridP00ODFNEW/ap00k2odfnew.dat", model_atmospheres([3500, 5750, 9000], 4.5)
            ),
            # 2,500,000 bytes is listed as "2.4M" (2,516,582 bytes by the estimate).
            "gridP00ODFNEW/fp00k2odfnew.pck": kz.add(
                "gridP00ODFNEW/fp00k2odfnew.pck", flux_file(2_500_000)
            ),
            "gridM05ODFNEW/am05k2odfnew.dat": kz.add(
                "gridM05ODFNEW/am05k2odfnew.dat", model_atmospheres([5750], 4.0, 0.31623)
            ),
        }
        kz.add("gridP00ODFNEW/readme.txt", b"not a model file\n")  # outside include patterns
        kz.add("gridP00NOVER/ap00k2nover.dat", model_atmospheres([5750], 4.5))  # excluded
        # Grid directories that only grids.html links to (not in the /grids/ listing).
        p05 = Blob.of(model_atmospheres([6000, 6250], 4.5, 3.16228))
        kz.add_recorded_directory(
            "gridP05ODFNEW",
            listing_line("ap05k2odfnew.dat", human(p05.size)),
            "ap05k2odfnew.dat",
            p05,
        )
        blobs["gridP05ODFNEW/ap05k2odfnew.dat"] = p05
        line = recorded_line()
        if line is not None:  # the real line says 4.2M; the file served is much smaller
            m40 = Blob.of(model_atmospheres([4000, 4250], 5.0, 0.0001))
            kz.add_recorded_directory("gridM40ODFNEW", line, RECORDED_NAME, m40)
            blobs[f"gridM40ODFNEW/{RECORDED_NAME}"] = m40
            kz.link(f"{REAL_ORIGIN}/grids/gridM40ODFNEW/", "GRIDM40ODFNEW")
        kz.link(f"{REAL_ORIGIN}/grids/gridP00ODFNEW/", "GRIDP00ODFNEW")
        kz.link("grids/gridM05ODFNEW/", "GRIDM05ODFNEW")  # a relative link
        kz.link(f"{REAL_ORIGIN}/grids/gridP05ODFNEW", "GRIDP05ODFNEW")  # no trailing slash
        kz.link(f"{REAL_ORIGIN}/grids/gridP00NOVER/", "GRIDP00NOVER")
        kz.link(f"{REAL_ORIGIN}/grids/gridP10DEAD/", "GRIDP10DEAD")  # dead link (404)
        kz.link(f"{REAL_ORIGIN}/programs.html", "PROGRAMS")
        kz.link("http://example.org/grids/elsewhere/", "ELSEWHERE")
        data_dir = tmp_path_factory.mktemp("kurucz") / "data"
        result = run_crawl(
            "kurucz",
            data_dir,
            args={"base_url": kz.publish(), "include": "*.dat,*.pck", "exclude": "*NOVER*"},
        )
        # The dead grids.html link is a failed listing: the crawl ends "partial" (exit 3).
        assert result.returncode == EXIT_PARTIAL, result.log[-3000:]
        assert "kurucz: partial: 1 listing request(s) failed" in result.log
        yield World(result, server, blobs, line is not None)


def test_grid_files_stored_byte_exact(world: World) -> None:
    assert world.result.statuses() == {ap(rel): "stored" for rel in world.blobs}
    items = world.result.by_path()
    for rel, blob in world.blobs.items():
        item = items[ap(rel)]
        stored = world.result.data_dir / item["path"]
        assert item["path"] == f"astrophysics/kurucz/grids/{rel}"
        assert hashlib.sha256(stored.read_bytes()).hexdigest() == blob.sha256 == item["sha256"]
        assert item["metadata"]["grid"] == rel.split("/", 1)[0]
        assert item["url"].startswith(world.server.base_url)  # mirrored, never the real host


def test_listing_sizes_are_estimates_only(world: World) -> None:
    item = world.result.by_path()[ap("gridP00ODFNEW/fp00k2odfnew.pck")]
    assert item["metadata"]["listing_size_text"] == "2.4M"
    assert item["metadata"]["listing_size_estimate"] == parse_size("2.4M") != item["size"]
    assert item["expected_size"] is None and item["size"] == 2_500_000
    rows = catalog_rows(world.result.data_dir, "select expected_size, state from files")
    assert {(r["expected_size"], r["state"]) for r in rows} == {(None, "stored")}


def test_recorded_listing_line_parses() -> None:
    sample_path("kurucz", "SOURCE.md")  # skips where the recorded samples are absent
    line = recorded_line()
    assert line is not None
    page = f"<pre>{line}\n</pre>"
    directory = f"{REAL_ORIGIN}/grids/gridM40ODFNEW/"
    assert parse_index(page, directory) == [
        IndexEntry(
            url=directory + RECORDED_NAME,
            name=RECORDED_NAME,
            is_dir=False,
            size_estimate=int(4.2 * 1024**2),
            size_text="4.2M",
            modified="2011-04-13T15:07:00",
        )
    ]


def test_recorded_listing_line_crawled(world: World) -> None:
    if not world.recorded:
        pytest.skip("shared/samples/kurucz/SOURCE.md is not available")
    item = world.result.by_path()[ap(f"gridM40ODFNEW/{RECORDED_NAME}")]
    assert item["status"] == "stored"
    assert item["metadata"]["listing_size_text"] == "4.2M"
    assert item["metadata"]["listing_modified"] == "2011-04-13T15:07:00"
    assert item["metadata"]["listing_size_estimate"] > 100 * item["size"]


def test_discovery_from_listing_and_index_without_duplicates(world: World) -> None:
    log = world.server.log
    paths = [e.path for e in log]
    assert paths.count("/grids.html") == 1 and paths.count("/grids/") == 1
    listings = [p for p in paths if p.endswith("/")]
    assert len(listings) == len(set(listings))
    assert "/grids/gridP05ODFNEW/" in listings  # only grids.html names it
    assert not any(e.query for e in log)  # sort links (?C=N;O=D) never followed
    assert "/programs.html" not in paths and "/" not in paths  # pages, parent links
    stats = world.result.stats
    assert stats.get("kurucz/index/links_elsewhere") == 1
    # The dead link is one clear listing failure; the crawl went on.
    assert [e.status for e in log if e.path == "/grids/gridP10DEAD/"] == [404]
    assert stats.get("kurucz/listing_failed") == 1


def test_include_and_exclude_patterns(world: World) -> None:
    paths = [e.path for e in world.server.log]
    assert not any("NOVER" in p for p in paths)
    assert "/grids/gridP00ODFNEW/readme.txt" not in paths


# -- defaults and declared arguments --------------------------------------------------------
def test_no_arguments_capture_the_atlas9_grids(tmp_path: Path) -> None:
    with ArchiveServer() as server:
        extra = default_archive(server, tmp_path / "work")
        base = server.base_url
        result = run_crawl("kurucz", tmp_path / "data", args={"base_url": base, **extra})
        paths = [e.path for e in server.log]
    assert result.returncode == 0, result.log[-3000:]
    assert extra == {}
    assert result.statuses() == {
        ap("gridP00ODFNEW/ap00k2odfnew.dat"): "stored",
        ap("gridP00ODFNEW/fp00k2odfnew.pck"): "stored",
        ap("gridM05ODFNEW/am05k2odfnew.dat"): "stored",  # only grids.html names it
    }
    for item in result.items:
        assert item["quality"]["grade"] in ("accepted", "nasa_grade")
        assert item["url"].startswith(base) and (result.data_dir / item["path"]).exists()
    # grids.html links one grid by the real host and one by the mirror's own host: both are
    # the archive's, crawled on the mirror; nothing counts as "elsewhere".
    assert "/grids/gridM05ODFNEW/" in paths and paths.count("/grids/gridP00ODFNEW/") == 1
    assert not result.stats.get("kurucz/index/links_elsewhere")


def test_declared_parameters() -> None:
    defaults = KuruczSpider.param_model()()
    assert (defaults.root, defaults.include, defaults.exclude) == (["/grids/"], [], [])
    assert defaults.max_depth == 20 and defaults.render_js is False
    spider = KuruczSpider(
        root="/linelists/gfnew", include="*.dat, *.pck", exclude="*NOVER*", render_js="0"
    )
    assert spider.roots == ["/linelists/gfnew/"] and spider.include == ["*.dat", "*.pck"]
    assert spider.exclude == ["*NOVER*"] and spider.render_js is False
    assert spider.base_url == REAL_ORIGIN
    assert KuruczSpider(render_js="yes").render_js is True
    for bad, message in (
        ({"max_depth": "1.5"}, "kurucz: max_depth must be a non-negative integer, got '1.5'"),
        ({"render_js": "sometimes"}, "kurucz: render_js: must be one of"),
        ({"root": "/grids/?C=N"}, "kurucz: root: expected a directory path"),
        ({"grid": "gridP00"}, "kurucz: unknown argument 'grid'"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            KuruczSpider.check_args(bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value)
