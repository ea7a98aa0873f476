"""Per-run JSON-lines manifests through Scrapy FEEDS.

``capture run`` writes one manifest per spider per run, by default to
``<data root>/feeds/<run_id>/<spider>.jsonl``; any Scrapy feed storage URI works
(``--feed-uri 's3://bucket/feeds/%(run_id)s/%(name)s.jsonl'``). :func:`uri_params` adds
``run_id`` and ``domain`` to the placeholders Scrapy offers (``%(name)s``, ``%(time)s``).
"""

from __future__ import annotations

from typing import Any

DEFAULT_FEED_TEMPLATE = "feeds/%(run_id)s/%(name)s.jsonl"


def uri_params(params: dict[str, Any], spider: Any) -> dict[str, Any]:
    crawler = getattr(spider, "crawler", None)
    run_id = crawler.settings.get("CAPTURE_RUN_ID") if crawler else None  # -s wins
    return {
        **params,
        "run_id": run_id or getattr(spider, "run_id", "") or "norun",
        "domain": getattr(spider, "domain", ""),
    }
