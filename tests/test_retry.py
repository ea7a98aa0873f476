from __future__ import annotations

from datetime import UTC, datetime

import pytest
from scrapy import Request
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from capture.transfer import EVENTS_KEY
from capture.transfer.errors import LocalStorageError, TransferInterrupted
from middlewares.retry import DELAY_KEY, BackoffRetryMiddleware, parse_retry_after

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "value,expected",
    [
        ("120", 120.0),
        (b"0", 0.0),
        ("Sat, 28 Nov 2026 12:00:30 GMT", 30.0),
        ("Sat, 28 Nov 2026 11:00:00 GMT", 0.0),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


def make_mw(**settings: object) -> BackoffRetryMiddleware:
    crawler = get_crawler(
        settings_dict={
            "CAPTURE_RETRY_BACKOFF_BASE": 1.0,
            "CAPTURE_RETRY_BACKOFF_MAX": 60.0,
            "CAPTURE_RETRY_JITTER": 0.5,
            "RETRY_TIMES": 3,
            **settings,
        }
    )
    crawler.spider = crawler._create_spider("test")
    return BackoffRetryMiddleware.from_crawler(crawler)


def test_backoff_is_exponential_with_bounded_jitter() -> None:
    mw = make_mw()
    for attempt in range(1, 10):
        nominal = min(60.0, 2 ** (attempt - 1))
        for _ in range(50):
            assert nominal * 0.5 <= mw.backoff(attempt) <= min(60.0, nominal * 1.5)


def test_retry_after_wins_when_longer_and_is_recorded() -> None:
    mw = make_mw()
    events: list[dict] = []
    req = Request("http://a/x", meta={EVENTS_KEY: events})
    resp = Response("http://a/x", status=503, headers={"Retry-After": "45"}, request=req)
    new = mw.process_response(req, resp)
    assert isinstance(new, Request) and new.meta[DELAY_KEY] == 45.0
    assert events[-1]["kind"] == "retry" and events[-1]["retry_after"] == 45.0


def test_retry_after_is_capped() -> None:
    mw = make_mw(CAPTURE_RETRY_AFTER_MAX=10)
    req = Request("http://a/x")
    resp = Response("http://a/x", status=429, headers={"Retry-After": "86400"}, request=req)
    assert mw.process_response(req, resp).meta[DELAY_KEY] == 10.0


def test_gives_up_after_retry_times() -> None:
    mw = make_mw()
    req = Request("http://a/x")
    for _ in range(3):
        req = mw.process_response(req, Response("http://a/x", status=500, request=req))
        assert isinstance(req, Request)
    final = mw.process_response(req, Response("http://a/x", status=500, request=req))
    assert isinstance(final, Response) and final.status == 500


def test_progressing_transfers_do_not_burn_retries() -> None:
    mw = make_mw(CAPTURE_RETRY_PROGRESS_TIMES=5)
    req = Request("http://a/x")
    for i in range(5):
        cut = TransferInterrupted("cut", offset=100 * (i + 1), progress=100)
        req = mw.process_exception(req, cut)
        assert isinstance(req, Request) and "retry_times" not in req.meta
    # Out of progress retries: the ordinary budget applies.
    req = mw.process_exception(req, TransferInterrupted("cut", offset=600, progress=100))
    assert req.meta["retry_times"] == 1


def test_attempts_that_end_where_an_earlier_one_did_are_not_progress() -> None:
    """A body that always stops at byte 600 (and restarts from 0) burns the retry budget."""
    mw = make_mw(CAPTURE_RETRY_PROGRESS_TIMES=100, RETRY_TIMES=3)
    req = mw.process_exception(
        Request("http://a/x"), TransferInterrupted("cut", offset=600, progress=600)
    )
    assert isinstance(req, Request)
    counted = 0
    while True:
        req = mw.process_exception(req, TransferInterrupted("cut", offset=600, progress=600))
        if not isinstance(req, Request):
            break
        counted += 1
        assert req.meta["retry_times"] == counted
    assert counted == 3  # RETRY_TIMES, then given up


def test_local_storage_errors_are_not_retried() -> None:
    assert (
        make_mw().process_exception(Request("http://a/x"), LocalStorageError("disk full")) is None
    )
