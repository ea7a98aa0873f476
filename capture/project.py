"""The project's Scrapy settings from any working directory, for code that runs outside a
crawl (the ``capture`` commands, ``capture run``, the spider declarations): no scrapy.cfg
needed. In the core so that both the CLI and the run orchestrator read it from below."""

from __future__ import annotations

import os

from scrapy.settings import Settings


def project_settings() -> Settings:
    """capture.settings whatever the working directory (no scrapy.cfg needed)."""
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", "capture.settings")
    from scrapy.utils.project import get_project_settings

    return get_project_settings()
