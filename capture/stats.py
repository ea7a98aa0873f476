"""The crawl's stats collector: Scrapy's ``MemoryStatsCollector`` without the per-access cost.

Scrapy 2.19's ``StatsCollector.__getattribute__`` runs on *every* attribute access of the
collector (``self._stats`` inside ``inc_value`` included): it formats a cache name and raises
and catches an ``AttributeError`` before it finds the real attribute, to wrap the public
methods in a warning about a deprecated ``spider`` argument. A small-file crawl updates stats
some twenty times per file; that wrapper alone was ~3% of the reactor thread's time (py-spy,
2000 x 50 KB). This class keeps Scrapy's behaviour (same methods, same dict, same dump and
``spider_stats``) with plain attribute access; a caller still passing ``spider`` is simply not
warned.
"""

from __future__ import annotations

from typing import Any

from scrapy.statscollectors import MemoryStatsCollector


class CaptureStatsCollector(MemoryStatsCollector):
    __getattribute__ = object.__getattribute__

    def get_value(self, key: str, default: Any = None, spider: Any = None) -> Any:
        return self._stats.get(key, default)

    def get_stats(self, spider: Any = None) -> dict[str, Any]:
        return self._stats

    def set_value(self, key: str, value: Any, spider: Any = None) -> None:
        self._stats[key] = value

    def inc_value(self, key: str, count: int = 1, start: int = 0, spider: Any = None) -> None:
        d = self._stats
        d[key] = d.get(key, start) + count

    def max_value(self, key: str, value: Any, spider: Any = None) -> None:
        d = self._stats
        d[key] = max(d.setdefault(key, value), value)

    def min_value(self, key: str, value: Any, spider: Any = None) -> None:
        d = self._stats
        d[key] = min(d.setdefault(key, value), value)
