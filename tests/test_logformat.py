"""Dropped files log one line naming the file (capture/logformat.py), at the level asked for."""

from __future__ import annotations

import logging

from scrapy import Spider
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from capture.items import CapturedFile
from capture.logformat import CaptureLogFormatter


def _line(item: object, exc: DropItem) -> tuple[int, str]:
    crawler = get_crawler(Spider)
    spider = Spider("s")
    spider.crawler = crawler
    result = CaptureLogFormatter.from_crawler(crawler).dropped(item, exc, None, spider)
    return result["level"], result["msg"] % result["args"]


def test_a_dropped_file_is_one_line_at_the_level_asked_for() -> None:
    item = CapturedFile("arc", "genomics", "http://h/a", "a/b.vcf", expected_size=5)
    level, text = _line(item, DropItem("arc:a/b.vcf not fetched: budget", log_level="INFO"))
    assert level == logging.INFO
    assert text == "Dropped: arc:a/b.vcf not fetched: budget"  # no repr of the item


def test_another_item_keeps_scrapy_s_format() -> None:
    level, text = _line({"k": "v"}, DropItem("no"))
    assert level == logging.WARNING and text.startswith("Dropped: no") and "'k': 'v'" in text
