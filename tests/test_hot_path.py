"""The small-file hot path's pieces (issue 14): each keeps Scrapy's or the old behaviour while
costing less per file."""

from __future__ import annotations

import builtins
import os
import pickle
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scrapy import Spider, signals
from scrapy.utils.test import get_crawler
from twisted.internet.error import ConnectionLost
from twisted.python.failure import Failure
from twisted.web.client import ResponseDone

from capture.itemleft import ItemLeft, on_item_left
from capture.paths import UnsafePathError
from capture.quality.scorers.base import HEAD_CACHE, ScoreContext
from capture.safefs import _parts
from capture.settings import STATS_CLASS
from capture.stats import CaptureStatsCollector
from capture.transfer.errors import TransferAborted
from capture.transfer.receiver import BodyReceiver, TransferLimits


# -- stats ---------------------------------------------------------------------------------
def test_the_crawl_uses_the_plain_stats_collector() -> None:
    assert STATS_CLASS == "capture.stats.CaptureStatsCollector"
    crawler = get_crawler(Spider, {"STATS_CLASS": STATS_CLASS})
    assert isinstance(crawler.stats, CaptureStatsCollector)


def test_stats_collector_keeps_scrapys_semantics() -> None:
    stats = CaptureStatsCollector(get_crawler(Spider))
    stats.inc_value("a")
    stats.inc_value("a", 2)
    stats.inc_value("b", 5, start=10)
    stats.max_value("m", 3)
    stats.max_value("m", 1)
    stats.min_value("n", 3)
    stats.min_value("n", 1)
    stats.set_value("s", "x", spider=None)  # the old signature is still accepted
    assert stats.get_stats() == {"a": 3, "b": 15, "m": 3, "n": 1, "s": "x"}
    assert stats.get_value("missing", 7) == 7
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no per-call wrapper, no deprecation machinery
        stats.inc_value("a")
    assert stats.get_value("a") == 4


# -- quality: the head is read once ------------------------------------------------------------
def _count_opens(monkeypatch: pytest.MonkeyPatch, path: Path) -> list[str]:
    opened: list[str] = []
    real = builtins.open

    def counting(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path):
            opened.append(str(file))
        return real(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", counting)
    return opened


def test_score_context_reads_a_small_files_head_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 200  # 51200 bytes: the whole file fits the head cache
    path.write_bytes(data)
    ctx = ScoreContext(str(path), "f.bin")
    opened = _count_opens(monkeypatch, path)
    assert ctx.head(16) == data[:16]
    assert ctx.head() == data[:4096]
    assert ctx.head(10**5) == data  # past the end of a file read whole: still the cache
    assert ctx.tail(100) == data[-100:]
    assert ctx.tail(10**6) == data
    assert len(opened) == 1


def test_score_context_reads_again_past_its_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.bin"
    data = b"x" * HEAD_CACHE + b"y" * 1000
    path.write_bytes(data)
    ctx = ScoreContext(str(path), "big.bin")
    opened = _count_opens(monkeypatch, path)
    assert ctx.head(10) == b"x" * 10
    assert ctx.head(HEAD_CACHE + 10) == data[: HEAD_CACHE + 10]  # more than cached: read
    assert ctx.tail(5) == b"yyyyy"  # not the whole file in memory: read from the end
    assert len(opened) == 3


def test_score_context_ships_without_its_cache(tmp_path: Path) -> None:
    path = tmp_path / "f.txt"
    path.write_bytes(b"hello")
    ctx = ScoreContext(str(path), "f.txt")
    assert ctx.head() == b"hello"
    copy = pickle.loads(pickle.dumps(ctx))  # what a quality worker process receives
    assert copy._head is None
    path.write_bytes(b"world")
    assert copy.head() == b"world"


# -- item left: one receiver, every hook ---------------------------------------------------
def test_item_left_calls_every_hook_once_per_signal() -> None:
    crawler = get_crawler(Spider)
    seen: list[tuple[str, Any]] = []

    def broken(item: Any) -> None:
        raise RuntimeError("boom")

    on_item_left(crawler, lambda item: seen.append(("a", item)))
    on_item_left(crawler, broken)
    on_item_left(crawler, lambda item: seen.append(("b", item)))
    assert ItemLeft.of(crawler) is ItemLeft.of(crawler)
    kw = {"response": None, "spider": None}
    crawler.signals.send_catch_log(signals.item_scraped, item=1, **kw)
    crawler.signals.send_catch_log(signals.item_dropped, item=2, exception=None, **kw)
    crawler.signals.send_catch_log(signals.item_error, item=3, failure=None, **kw)
    assert seen == [("a", 1), ("b", 1), ("a", 2), ("b", 2), ("a", 3), ("b", 3)]


# -- the transfer slot goes back the moment a whole body is in ------------------------------
class _Transport:
    def pauseProducing(self) -> None: ...

    def resumeProducing(self) -> None: ...

    def stopProducing(self) -> None:
        self.stopped = True


def _receiver(total: int | None, released: list[int]) -> BodyReceiver:
    crawler = get_crawler(Spider)
    crawler.crawling = True
    receiver = BodyReceiver(
        sink=None,  # type: ignore[arg-type]  # a body below the flush size is never written here
        pool=None,  # type: ignore[arg-type]
        flush_bytes=1 << 20,
        stall_timeout=60,
        crawler=crawler,
        limits=TransferLimits(),
        complete_at=total,
        on_complete=lambda: released.append(1),
    )
    receiver.transport = _Transport()  # type: ignore[assignment]
    return receiver


@pytest.mark.parametrize(
    ("total", "body", "reason", "early"),
    [
        (10, b"0123456789", ResponseDone(), True),
        (10, b"01234", ResponseDone(), False),  # short: the handler suspends it
        (None, b"0123456789", ResponseDone(), False),  # length unknown: the handler decides
        (10, b"0123456789", ConnectionLost(), False),  # not a clean end
    ],
)
def test_receiver_releases_the_slot_only_for_a_whole_clean_body(
    total: int | None, body: bytes, reason: Exception, early: bool
) -> None:
    released: list[int] = []
    receiver = _receiver(total, released)
    receiver.dataReceived(body)
    assert released == []
    receiver.connectionLost(Failure(reason))
    assert released == ([1] if early else [])
    assert receiver.finished.called


def test_receiver_does_not_release_an_aborted_body() -> None:
    released: list[int] = []
    receiver = _receiver(10, released)
    receiver.dataReceived(b"0123456789")
    receiver.abort(TransferAborted("stop"))
    receiver.connectionLost(Failure(ResponseDone()))
    assert released == []


# -- one endpoint per origin ------------------------------------------------------------------
def test_agent_endpoints_are_kept_per_origin() -> None:
    from twisted.internet import reactor
    from twisted.web.client import URI, _StandardEndpointFactory

    from capture.transfer.handler import _EndpointCache

    factory = _StandardEndpointFactory(reactor, None, 5, ("127.0.0.1", 0))  # type: ignore[no-untyped-call]
    cache = _EndpointCache(factory)
    a1 = cache.endpointForURI(URI.fromBytes(b"http://a.example:8080/x"))
    a2 = cache.endpointForURI(URI.fromBytes(b"http://a.example:8080/y?q=1"))
    b = cache.endpointForURI(URI.fromBytes(b"http://b.example:8080/x"))
    a_other_port = cache.endpointForURI(URI.fromBytes(b"http://a.example:8081/x"))
    assert a1 is a2
    assert b is not a1 and a_other_port is not a1
    assert cache._bindAddress == ("127.0.0.1", 0)  # what Scrapy's agent reads for its pool key


# -- start-up: Scrapy's deprecated aliases named without inspecting every frame ----------------
def test_scrapys_handler_imports_with_lean_frames_and_the_same_alias_modules() -> None:
    import subprocess
    import sys

    probe = (
        "import inspect; stack, getmodule = inspect.stack, inspect.getmodule\n"
        "import capture.transfer.handler\n"
        "import scrapy.core.downloader.contextfactory as cf, scrapy.core.downloader.tls as tls\n"
        "assert inspect.stack is stack and inspect.getmodule is getmodule\n"
        "print(cf.ScrapyClientContextFactory.__module__, "
        "cf.AcceptableProtocolsContextFactory.__module__, tls.ScrapyClientTLSOptions.__module__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    # What create_deprecated_class finds with the real inspect.stack/getmodule.
    assert out == [
        "scrapy.core.downloader.contextfactory",
        "scrapy.core.downloader.contextfactory",
        "scrapy.core.downloader.tls",
    ]


def test_the_crawls_download_handlers_import_without_twisteds_ftp_module() -> None:
    """Scrapy imports every configured download handler at start-up; the FTP one leaves
    ``twisted.protocols.ftp`` (80 ms) to its first FTP session."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from scrapy.utils.misc import load_object\n"
        "from capture import settings\n"
        "for path in settings.DOWNLOAD_HANDLERS.values(): load_object(path)\n"
        "print('twisted.protocols.ftp' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False"]


# -- safe paths: the string split answers what Path.relative_to answered ---------------------
def _pathlib_parts(path: str, base: Path) -> tuple[str, ...] | None:
    try:
        return Path(os.path.abspath(path)).relative_to(base).parts
    except ValueError:
        return None


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(["a", "b", "..", ".", "", "x y", "data", "data2", "é"]), max_size=6),
    st.sampled_from(["/", "/data", "/data/a", "data", "/data/"]),
    st.booleans(),
)
def test_safe_path_parts_match_pathlib(names: list[str], base: str, absolute: bool) -> None:
    path = ("/" if absolute else "") + "/".join(names)
    expected = _pathlib_parts(path, Path(base))
    if expected is None:
        with pytest.raises(UnsafePathError):
            _parts(path, Path(base))
    else:
        assert _parts(path, Path(base)) == expected
