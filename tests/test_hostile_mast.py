"""Attack 8 (issue 13): a MAST portal whose answers claim 10^6 pages cannot blow up a crawl.

Before: page 1's ``pagesFiltered`` made ``jwst_mast`` queue every page at once (RSS past
2.3 GB). Now pages are asked one at a time and paging stops at an empty page, a repeated page,
a page with no new row, or ``CAPTURE_MAST_MAX_PAGES``. Real crawls (``scrapy crawl
jwst_mast``) against :class:`tests.archives.hostile.mast.HostileMastArchive`, which lies about
the count for ``Mast.Caom.Filtered`` and ``Mast.Caom.Products`` alike; the server log bounds the
requests, ``/proc/<pid>/status`` the crawl's peak RSS.
"""

from __future__ import annotations

import pickle
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scrapy.utils.request import request_from_dict
from scrapy.utils.test import get_crawler

from capture.formats.mast_portal import PortalAnswer
from capture.outcomes import EXIT_PARTIAL
from spiders.jwst_mast import JwstMastSpider
from spiders.mast_portal import (
    FILTERED,
    PAGING_DONE,
    PRODUCTS,
    PageTracker,
    PortalCall,
)
from tests.archives import ArchiveServer
from tests.archives.hostile.mast import HostileMastArchive
from tests.crawl import last_run_stats, peak_rss_mb, read_jsonl, start_crawl

PAGESIZE, BATCH = 3, 2
N_OBS = 7  # 3 real observation pages (3, 3, 1 rows) -> product batches of 2, 1, 2, 1, 1 obsids
REAL_PAGES = 3
BATCHES = 5
STOPS = ("empty_page", "repeated_page", "no_new_rows")
WHY = {
    "empty_page": "came back empty",
    "repeated_page": "repeats an earlier page of this query",
    "no_new_rows": "has no row that an earlier page of this query did not have",
}
# A crawl of a few dozen small requests; the bare `scrapy crawl` process with astropy and
# numpy loaded sits near 150 MB. Queuing 10^6 page requests took it past 2.3 GB.
RSS_LIMIT_MB = 400


def x1d(i: int) -> str:
    return f"jw01366-o{i:03d}_t001_nirspec_clear-prism_x1d.fits"


def build(mast: HostileMastArchive) -> str:
    for i in range(1, N_OBS + 1):
        obs = mast.add_observation(f"9300000{i}", f"jw01366-o{i:03d}_t001_nirspec")
        mast.add_product(obs, x1d(i), subgroup="X1D", size=3000)
    return mast.install()


@dataclass
class Crawl:
    returncode: int
    items: list[dict[str, Any]]
    log: str
    stats: dict[str, Any]
    peak_rss_mb: float
    seconds: float


def crawl(mast: HostileMastArchive, data_dir: Path, settings: dict[str, Any]) -> Crawl:
    """``scrapy crawl jwst_mast`` in the background, its peak RSS read while it runs."""
    args = {
        "base_url": build(mast),
        "instrument": "NIRSPEC/SLIT",
        "subgroups": "X1D",
        "pagesize": str(PAGESIZE),
        "batch_size": str(BATCH),
    }
    started = time.monotonic()
    proc, out, log_file = start_crawl(
        "jwst_mast", data_dir, args=args, settings=settings, tag="hostile-mast"
    )
    peak = 0.0
    while proc.poll() is None and time.monotonic() - started < 120:
        peak = max(peak, peak_rss_mb(proc.pid) or 0.0)
        time.sleep(0.05)
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=30)
        pytest.fail("the crawl did not end within 120 s")
    seconds = time.monotonic() - started
    log = log_file.read_text() if log_file.exists() else ""
    stats = last_run_stats(data_dir)
    return Crawl(proc.returncode, read_jsonl(out), log, stats, peak, seconds)


def assert_real_files_captured(result: Crawl) -> None:
    statuses = {i["archive_path"]: i["status"] for i in result.items}
    assert statuses == {f"JWST/product/{x1d(i)}": "stored" for i in range(1, N_OBS + 1)}


# -- the paging rules, without a server ----------------------------------------------------
def answer(rows: list[dict[str, Any]], pages: int = 10**6, claimed: int | None = None) -> Any:
    return PortalAnswer("COMPLETE", "", rows, 1, pages, claimed)


def obs(*ids: int) -> list[dict[str, Any]]:
    return [{"obsid": str(i), "obs_id": f"o{i}"} for i in ids]


def test_page_tracker_stops_where_the_claimed_count_lies() -> None:
    t = PageTracker(FILTERED, max_pages=5)
    assert t.take(1, answer(obs(1, 2))) == (obs(1, 2), None)
    # Partly new: only the new rows go on; paging goes on.
    assert t.take(2, answer(obs(2, 3))) == (obs(3), None)
    rows, stop = t.take(3, answer(obs(1, 2)))  # the same rows as page 1
    assert rows == [] and stop and (stop.reason, stop.truncated) == ("repeated_page", True)
    rows, stop = t.take(4, answer(obs(3, 1)))  # a new mix of old rows
    assert rows == [] and stop and stop.reason == "no_new_rows" and stop.truncated
    rows, stop = t.take(5, answer(obs(9)))
    assert rows == obs(9) and stop and (stop.reason, stop.truncated) == ("cap_reached", True)


def test_page_tracker_empty_pages_and_honest_ends() -> None:
    # Claimed 10^6 pages and 3 * 10^6 rows, 2 came: an empty page ends a truncated listing.
    t = PageTracker(FILTERED)
    t.take(1, answer(obs(1, 2)))
    rows, stop = t.take(2, answer([], claimed=3 * 10**6))
    assert rows == [] and stop and (stop.reason, stop.truncated) == ("empty_page", True)
    # All claimed rows came and then an empty page: the end, nothing lost.
    t = PageTracker(FILTERED)
    t.take(1, answer(obs(1, 2), pages=2, claimed=2))
    rows, stop = t.take(2, answer([], pages=2, claimed=2))
    assert stop and not stop.truncated
    # The honest last page, and an honestly empty query.
    t = PageTracker(PRODUCTS)
    product = {"obsID": "1", "dataURI": "mast:JWST/product/a.fits"}
    assert t.take(1, answer([product], pages=1)) == ([product], PAGING_DONE)
    assert PageTracker(FILTERED).take(1, answer([], pages=1, claimed=0))[1] == PAGING_DONE


def test_page_request_is_a_plain_request_that_survives_jobdir() -> None:
    """A next-page request pickles and round-trips through request_to_dict (JOBDIR's disk
    queue) with its page, body and callback."""
    crawler = get_crawler(JwstMastSpider, {"CAPTURE_MAST_MAX_PAGES": 7})
    spider = JwstMastSpider.from_crawler(crawler, base_url="http://127.0.0.1:9", target="X")
    call = PortalCall(FILTERED, {"columns": "*", "filters": []}, pagesize=3).at_page(4)
    request = spider.invoke(call, "observations", priority=-1)
    back = request_from_dict(
        pickle.loads(pickle.dumps(request.to_dict(spider=spider))), spider=spider
    )
    assert back.cb_kwargs["call"] == call and back.body == request.body
    assert back.callback == spider.parse_invoke and back.priority == -1
    assert spider.max_pages == 7


# -- real crawls against the lying portal --------------------------------------------------
@pytest.mark.parametrize(
    ("mode", "reason"),
    [("then_empty", "empty_page"), ("same_page", "repeated_page"), ("stale", "no_new_rows")],
)
def test_claimed_million_pages_stop_at_the_first_bad_page(
    mode: str, reason: str, tmp_path: Path
) -> None:
    with ArchiveServer() as server:
        mast = HostileMastArchive(server, mode=mode)
        result = crawl(mast, tmp_path / "data", {})
        filtered = mast.calls(FILTERED)
        products = mast.calls(PRODUCTS)
    # Three real pages, then ONE bad page: 4 observation requests of 10^6 claimed, in order.
    assert [c["page"] for c in filtered] == [1, 2, 3, 4]
    # Each product batch (also claiming 10^6 pages): its real page, then one bad page.
    batches: dict[str, list[int]] = {}
    for c in products:
        batches.setdefault(c["params"]["obsid"], []).append(c["page"])
    assert len(batches) == BATCHES and all(p == [1, 2] for p in batches.values()), batches
    assert_real_files_captured(result)
    assert result.returncode == EXIT_PARTIAL, result.log[-3000:]
    # One stop per query (a one-row product list can only repeat, so "stale" shows both).
    stops = {r: result.stats.get(f"jwst_mast/paging/{r}", 0) for r in STOPS}
    assert sum(stops.values()) == 1 + BATCHES and stops[reason] >= 1, stops
    assert f"{FILTERED} query 1/1 page 4 {WHY[reason]}" in result.log
    assert result.stats["jwst_mast/listing_truncated"] == 1 + BATCHES
    assert "paging stopped" in result.log and "this listing is incomplete" in result.log
    assert "MAST claims 1000000 page(s), 3000000 row(s)" in result.log
    assert result.peak_rss_mb < RSS_LIMIT_MB, result.peak_rss_mb


def test_distinct_pages_forever_stop_at_the_page_cap(tmp_path: Path) -> None:
    cap = 6
    with ArchiveServer() as server:
        mast = HostileMastArchive(server, mode="distinct")
        result = crawl(mast, tmp_path / "data", {"CAPTURE_MAST_MAX_PAGES": str(cap)})
        filtered = mast.calls(FILTERED)
        products = mast.calls(PRODUCTS)
        invokes = len(server.requests_for("/api/v0/invoke"))
    assert [c["page"] for c in filtered] == list(range(1, cap + 1))
    # The real product batches get fresh rows forever too: they stop at the cap. The synthetic
    # observations (2 batches per page of 3) have no product: their page 1 is empty (although
    # it claims 10^6 pages) and ends them.
    batches: dict[str, list[int]] = {}
    for c in products:
        batches.setdefault(c["params"]["obsid"], []).append(c["page"])
    real = {b: p for b, p in batches.items() if b.startswith("9300000")}
    synthetic = {b: p for b, p in batches.items() if b not in real}
    assert len(real) == BATCHES and len(synthetic) == (cap - REAL_PAGES) * 2
    assert all(p == list(range(1, cap + 1)) for p in real.values()), real
    assert all(p == [1] for p in synthetic.values()), synthetic
    assert invokes == cap + BATCHES * cap + len(synthetic)
    assert_real_files_captured(result)
    assert result.returncode == EXIT_PARTIAL, result.log[-3000:]
    assert result.stats["jwst_mast/paging/cap_reached"] == 1 + BATCHES
    assert result.stats["jwst_mast/paging/empty_page"] == len(synthetic)
    assert f"is the last one asked: CAPTURE_MAST_MAX_PAGES={cap}" in result.log
    assert result.peak_rss_mb < RSS_LIMIT_MB, result.peak_rss_mb
