"""Log lines for files dropped from the pipeline: one line each, naming the file.

Scrapy's default ``LogFormatter.dropped`` appends the item's whole repr (about 1 KB for a
``CapturedFile``), and a Ctrl-C, a spent budget or a lost archive drops every file in flight
at once: a 2000-file crawl stopped after 4 s logged 242 such dumps, 200 KB of log. capture's
own drop messages already name ``archive:path`` and why, so for a ``CapturedFile`` the line
is the message alone (at the level the ``DropItem`` asks for); any other item keeps Scrapy's
format.
"""

from __future__ import annotations

from typing import Any

from scrapy import Spider
from scrapy.http import Response
from scrapy.logformatter import LogFormatter, LogFormatterResult
from twisted.python.failure import Failure

from capture.items import CapturedFile


class CaptureLogFormatter(LogFormatter):
    def dropped(
        self,
        item: Any,
        exception: BaseException,
        response: Response | Failure | None,
        spider: Spider,
    ) -> LogFormatterResult:
        result = super().dropped(item, exception, response, spider)
        if isinstance(item, CapturedFile):
            result["msg"] = "Dropped: %(exception)s"
            result["args"] = {"exception": exception}
        return result
