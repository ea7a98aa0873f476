"""1000 Genomes / IGSR FTP tree, discovered from ``vol1/ftp/current.tree``.

Protocol (``research/archives.md`` section 8; IGSR's own ``igsr_archive/current_tree.py``):
``current.tree`` sits at the top of ``vol1/ftp/`` and lists every file and directory, one per
line, tab-separated: ``path  type(file|directory)  size  updated(YYYY-MM-DD HH:MM:SS)  md5``,
with paths relative to ``vol1/`` starting ``ftp/``. Lines may end with a trailing tab (IGSR's
parser strips it); directory lines and lines without 5 fields are skipped. The real file is
~115 MB, so it is streamed to disk and parsed incrementally; files are fed to the downloader
lazily as earlier ones finish (Scrapy's ``CONCURRENT_ITEMS`` bounds what is in flight).

Served at ``https://ftp.1000genomes.ebi.ac.uk/vol1/ftp/...`` (also http:// and ftp://). The md5
in ``current.tree`` is verified for every file; the size is checked too.

Arguments:
  ``-a prefix=ftp/release/20130502`` (comma-separated; default: the whole tree),
  ``-a exclude=...`` (comma-separated path prefixes to skip), ``-a base_url=...``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from capture.textio import iter_lines
from spiders.base import CaptureSpider

MD5 = re.compile(r"^[0-9a-f]{32}$")


def _split_arg(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class ThousandGenomesSpider(CaptureSpider):
    name = "thousand_genomes"
    domain = "genomics"
    default_base_url = "https://ftp.1000genomes.ebi.ac.uk"
    tree_path = "vol1/ftp/current.tree"
    custom_settings = {
        # EBI publishes no rate limit for this tree; stay modest and let big files share.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        "DOWNLOAD_DELAY": 0,
    }

    def __init__(
        self, *args: Any, prefix: str | None = None, exclude: str | None = None, **kwargs: Any
    ):
        super().__init__(*args, **kwargs)
        self.prefixes = _split_arg(prefix)
        self.excludes = _split_arg(exclude)

    async def discover(self) -> AsyncIterator[Any]:
        yield self.listing_request(
            self.archive_url(self.tree_path), "current.tree", self.parse_tree
        )

    def wanted(self, path: str) -> bool:
        if self.prefixes and not any(path.startswith(p) for p in self.prefixes):
            return False
        return not any(path.startswith(x) for x in self.excludes)

    async def parse_tree(self, response: Any) -> AsyncIterator[Any]:
        stats = self.crawler.stats
        path = self.streamed_path(response)
        async for line in iter_lines(path, self.ctx.io):
            if not self.crawler.crawling:
                return
            fields = line.split("\t")
            if len(fields) > 5 and fields[-1] == "":
                fields.pop()  # the trailing tab IGSR's own parser strips
            if len(fields) >= 2 and fields[1].strip() == "directory":
                continue
            if len(fields) < 5:
                if line.strip():
                    stats.inc_value("thousand_genomes/tree/skipped_malformed")
                continue
            rel, kind, size, updated, md5 = (f.strip() for f in fields[:5])
            if kind != "file":
                continue
            if not rel.startswith("ftp/"):
                # e.g. the tree's own entry "/nfs/1000g-work/.../current.tree" (a server path)
                stats.inc_value("thousand_genomes/tree/skipped_not_ftp")
                continue
            if not self.wanted(rel):
                continue
            try:
                expected = int(size)
            except ValueError:
                stats.inc_value("thousand_genomes/tree/skipped_bad_size")
                self.logger.warning("current.tree: bad size %r for %s", size, rel)
                continue
            item = self.new_file(
                self.archive_url(f"vol1/{rel}"),
                f"vol1/{rel}",
                expected_size=expected,
                metadata={"updated": updated, "tree": "vol1/ftp/current.tree"},
            )
            md5 = md5.lower()
            if MD5.match(md5):
                item.expect_digest("md5", md5, "vol1/ftp/current.tree")
            else:
                stats.inc_value("thousand_genomes/tree/no_valid_md5")
                self.logger.warning("current.tree: md5 %r of %s is not an md5; size only", md5, rel)
            stats.inc_value("thousand_genomes/tree/files")
            yield item
