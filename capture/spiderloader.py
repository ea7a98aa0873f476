"""A spider loader that imports only the spider a crawl asks for.

Scrapy's :class:`~scrapy.spiderloader.SpiderLoader` imports every module under
``SPIDER_MODULES`` at start to learn the spiders' names (~0.1 s of every ``scrapy crawl``
for ours). This one looks the name up in :data:`spiders.SPIDER_INDEX` first
(tests/test_spiderloader.py holds the index to the full walk) and falls back to Scrapy's walk for
anything else: ``scrapy list``, requests matched to spiders, other spider modules, names the
index does not know.
"""

from __future__ import annotations

import builtins

from scrapy import Spider
from scrapy.http import Request
from scrapy.settings import BaseSettings
from scrapy.spiderloader import SpiderLoader
from scrapy.utils.misc import load_object


class IndexedSpiderLoader(SpiderLoader):
    def __init__(self, settings: BaseSettings):
        self._walked = False
        super().__init__(settings)

    def _load_all_spiders(self) -> None:
        """Put off (from ``__init__``) while the project's own spiders are all there is."""
        if self.spider_modules != ["spiders"]:
            self._walk()

    def _walk(self) -> None:
        if not self._walked:
            self._walked = True
            super()._load_all_spiders()  # Scrapy's, which also warns about duplicate names

    def load(self, spider_name: str) -> type[Spider]:
        if not self._walked:
            from spiders import SPIDER_INDEX

            target = SPIDER_INDEX.get(spider_name)
            if target is not None:
                cls: type[Spider] = load_object(target)
                if getattr(cls, "name", None) == spider_name:
                    return cls
            self._walk()
        return super().load(spider_name)

    def list(self) -> list[str]:
        self._walk()
        return super().list()

    def find_by_request(self, request: Request) -> builtins.list[str]:
        self._walk()
        return super().find_by_request(request)
