"""Which transfer slots may stage requests at the lean client's wire gate
(capture/concurrency.py): only where nothing spaces requests in time."""

from __future__ import annotations

from typing import Any

import pytest
from scrapy import Spider
from scrapy.utils.test import get_crawler

from capture.concurrency import TransferLimiter


class Plain(Spider):
    name = "plain"


class RateLimited(Spider):
    name = "rate_limited"
    rate_limit = 3.0


def _limiter(spider: type[Spider] = Plain, gated: bool = True, **settings: Any) -> TransferLimiter:
    crawler = get_crawler(spider, {"CONCURRENT_REQUESTS_PER_DOMAIN": 4, **settings})
    crawler.spider = spider()
    limiter = TransferLimiter(crawler)
    if gated:
        limiter.gate_on_wire()
    return limiter


def test_a_slot_without_spacing_stages_twice_its_concurrency() -> None:
    limiter = _limiter(CONCURRENT_REQUESTS=6)
    assert limiter.staged("a.example") and limiter.concurrency("a.example") == 4
    assert limiter._slot("a.example", True).limit == 8 and limiter.total(True).limit == 12
    # An FTP transfer of the same host never reaches the gate: the plain bounds.
    assert limiter._slot("a.example", False).limit == 4 and limiter.total(False).limit == 6


@pytest.mark.parametrize(
    ("spider", "gated", "settings"),
    [
        (Plain, False, {}),  # no wire gate (Twisted's client carries the files)
        (Plain, True, {"CAPTURE_STAGE_TRANSFERS": False}),
        (Plain, True, {"DOWNLOAD_DELAY": 0.25}),
        (Plain, True, {"AUTOTHROTTLE_ENABLED": True}),
        (Plain, True, {"DOWNLOAD_SLOTS": {"a.example": {"delay": 1.0}}}),
        (RateLimited, True, {}),
    ],
    ids=["no-gate", "off", "delay", "autothrottle", "slot-delay", "rate-limit"],
)
def test_spacing_in_time_or_no_gate_means_no_staging(
    spider: type[Spider], gated: bool, settings: dict[str, Any]
) -> None:
    limiter = _limiter(spider, gated, **settings)
    assert not limiter.staged("a.example")


def test_a_slot_s_own_concurrency_is_what_the_gate_holds() -> None:
    limiter = _limiter(DOWNLOAD_SLOTS={"b.example": {"concurrency": 2}})
    assert limiter.concurrency("b.example") == 2 and limiter._slot("b.example", True).limit == 4


@pytest.mark.parametrize(
    ("url", "staged"), [("http://a.example/f", True), ("ftp://a.example/f", False)]
)
def test_only_http_transfers_take_the_staged_tokens(url: str, staged: bool) -> None:
    import asyncio

    from scrapy import Request

    limiter = _limiter()
    limiter.slot_key = lambda request: "a.example"  # type: ignore[method-assign]
    held: list[int] = []

    async def transfer() -> None:
        held.append(limiter._slot("a.example", staged).tokens)
        held.append(limiter._slot("a.example", not staged).tokens)

    asyncio.run(limiter.run(Request(url), transfer))
    full = 8 if staged else 4  # this request's own semaphore, one token taken
    assert held == [full - 1, 4 if staged else 8]
    assert limiter._slot("a.example", staged).tokens == full  # given back
