"""Scrapy private names the engine relies on (pinned to one minor series, so check them)."""

from __future__ import annotations


def test_private_scrapy_names_still_exist() -> None:
    from scrapy.core.downloader.handlers.http11 import (  # noqa: F401
        HTTP11DownloadHandler,
        _RequestBodyProducer,
        _ScrapyAgent,
    )
    from scrapy.utils._download_handlers import wrap_twisted_exceptions  # noqa: F401

    assert hasattr(_ScrapyAgent, "_get_agent")
    handler_attrs = HTTP11DownloadHandler.__init__.__code__.co_names
    assert "_pool" in handler_attrs and "_contextFactory" in handler_attrs


def test_scraper_closing_names_still_exist() -> None:
    """spiders.base.CaptureSpider._recheck_closing works around start() items that finish
    while the spider closes (Scrapy 2.19 never re-checks the scraper's closing then)."""
    from scrapy.core.scraper import Scraper, Slot

    assert hasattr(Scraper, "_check_if_closing")
    assert "closing" in Slot.__init__.__code__.co_names
