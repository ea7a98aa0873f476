"""Scrapy private names the engine relies on (scrapy.md: pin a minor series and check them)."""

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
