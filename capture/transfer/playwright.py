"""Streaming transfers plus JavaScript-rendered listings (scrapy-playwright), in one handler.

By method resolution order: a request with ``meta["capture_stream"]`` is streamed to disk or
S3 (files never go through the browser: Playwright would read them into memory); a request
with ``meta["playwright"]`` is rendered in Chromium; anything else goes to Scrapy's HTTP/1.1
handler. Chromium is the system one (``PLAYWRIGHT_LAUNCH_OPTIONS["executable_path"]``,
default: ``CAPTURE_CHROMIUM`` or the ``chromium`` on PATH), since browsers cannot be
downloaded at install time.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from scrapy.settings import BaseSettings
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from capture.transfer.handler import StreamingDownloadHandler

HANDLER = "capture.transfer.playwright.StreamingPlaywrightHandler"


class StreamingPlaywrightHandler(StreamingDownloadHandler, ScrapyPlaywrightDownloadHandler):
    pass


def chromium_path() -> str | None:
    return (
        os.environ.get("CAPTURE_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
        or shutil.which("google-chrome")
    )


def enable(settings: BaseSettings, priority: str = "spider") -> None:
    """Switch a crawler to the combined handler with the system Chromium (headless)."""
    settings.set("DOWNLOAD_HANDLERS", {"http": HANDLER, "https": HANDLER}, priority=priority)
    options: dict[str, Any] = dict(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS"))
    options.setdefault("headless", True)
    path = chromium_path()
    if path and "executable_path" not in options:
        options["executable_path"] = path
    # Root in containers/CI cannot use Chromium's sandbox; the pages are archive listings.
    options.setdefault(
        "args",
        [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
        ],
    )
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", options, priority=priority)
    settings.set("PLAYWRIGHT_BROWSER_TYPE", "chromium", priority=priority)
