"""A self-contained stock Scrapy project (``FilesPipeline``) for the small-files comparison.

It fetches the same ``current.tree``, parses it with plain Python and yields one item with
``file_urls`` per listed file. ``FilesPipeline`` keeps each body in memory, computes an md5 of
it (no comparison with the publisher's md5), writes it with ``Path.write_bytes`` (no fsync) and
keeps no catalog: it is the baseline, not an equivalent.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGE = "stockbench"
SPIDER = "tree_files"

SCRAPY_CFG = f"""\
[settings]
default = {PACKAGE}.settings
"""

SETTINGS = """\
BOT_NAME = "stockbench"
SPIDER_MODULES = ["stockbench.spiders"]
ITEM_PIPELINES = {{"scrapy.pipelines.files.FilesPipeline": 1}}
FILES_STORE = "files"  # overridden per run with -s FILES_STORE=...
CONCURRENT_REQUESTS = {concurrent_requests}
CONCURRENT_REQUESTS_PER_DOMAIN = {per_domain}
CONCURRENT_ITEMS = {concurrent_items}
# The same switches capture's settings turn off, so both do the same network work.
ROBOTSTXT_OBEY = False
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
LOG_LEVEL = "WARNING"
"""

SPIDER_CODE = '''\
"""Yield one FilesPipeline item per ``file`` line of vol1/ftp/current.tree under a prefix."""

import scrapy


class TreeFilesSpider(scrapy.Spider):
    name = "tree_files"

    def __init__(self, base_url, prefix="", **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")
        self.prefix = prefix

    async def start(self):
        yield scrapy.Request(f"{self.base_url}/vol1/ftp/current.tree", callback=self.parse_tree)

    def parse_tree(self, response):
        for line in response.text.splitlines():
            fields = line.split("\\t")
            if len(fields) < 5 or fields[1] != "file" or not fields[0].startswith(self.prefix):
                continue
            yield {
                "file_urls": [f"{self.base_url}/vol1/{fields[0]}"],
                "archive_path": f"vol1/{fields[0]}",
                "size": int(fields[2]),
                "md5": fields[4],
            }
'''


def write_project(
    root: Path, *, concurrent_requests: int, per_domain: int, concurrent_items: int
) -> Path:
    """Write the project under ``root`` and return the directory to run ``scrapy`` from."""
    pkg = root / PACKAGE
    (pkg / "spiders").mkdir(parents=True, exist_ok=True)
    (root / "scrapy.cfg").write_text(SCRAPY_CFG)
    (pkg / "__init__.py").write_text("")
    (pkg / "settings.py").write_text(
        SETTINGS.format(
            concurrent_requests=concurrent_requests,
            per_domain=per_domain,
            concurrent_items=concurrent_items,
        )
    )
    (pkg / "spiders" / "__init__.py").write_text("")
    (pkg / "spiders" / f"{SPIDER}.py").write_text(SPIDER_CODE)
    return root


def crawl_command(base_url: str, prefix: str, files_store: Path, items: Path) -> list[str]:
    """``scrapy crawl`` of the stock spider (run it with cwd = the project root)."""
    return [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        SPIDER,
        "-a",
        f"base_url={base_url}",
        "-a",
        f"prefix={prefix}",
        "-s",
        f"FILES_STORE={files_store}",
        "-O",
        f"{items}:jsonlines",
    ]
