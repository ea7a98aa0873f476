"""Base spider for archives published as HTML directory trees (Apache fancy indexes, nginx
autoindex, NASA NCCS datashare pages).

Recursion is bounded and loop-free: only links to children of the current directory are
followed (never ``../``, sort links ``?C=M;O=A``, or absolute links elsewhere), each directory
is visited once, and ``max_depth`` stops server-side symlink loops. Listing sizes are recorded
as estimates (``metadata.listing_size_estimate``), never used to reject a file.

Arguments: ``-a root=/path/`` (comma-separated start directories; public locations move),
``-a include=*.nc,*.fits`` and ``-a exclude=*/old/*`` (shell patterns on the path below the
root), ``-a max_depth=N``, ``-a render_js=1`` (listing pages built by JavaScript are rendered
in headless Chromium through scrapy-playwright; files are still streamed without a browser).
"""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import scrapy
from scrapy.http import Response

from capture.autoindex import IndexEntry, parse_index
from capture.items import CapturedFile
from spiders.base import CaptureSpider


def split_arg(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


class DirectoryListingSpider(CaptureSpider):
    #: Start directories on the archive (absolute paths, ending with "/").
    default_roots: ClassVar[tuple[str, ...]] = ()
    #: Default include patterns (empty: everything).
    default_include: ClassVar[tuple[str, ...]] = ()
    default_max_depth: ClassVar[int] = 20

    #: Render listing pages in Chromium (``-a render_js=1``) for archives that build them with JS.
    render_js: bool = False

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
        if str(kwargs.get("render_js", cls.render_js)).lower() in ("1", "true", "yes"):
            from capture.transfer.playwright import enable

            enable(crawler.settings)  # settings are still open while the spider is created
        return super().from_crawler(crawler, *args, **kwargs)

    def __init__(
        self,
        *args: Any,
        root: str | None = None,
        include: str | None = None,
        exclude: str | None = None,
        max_depth: str | int | None = None,
        render_js: str | bool | None = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        roots = split_arg(root) or list(self.default_roots)
        if not roots:
            from spiders.base import SpiderArgumentError

            raise SpiderArgumentError(f"{self.name}: give a start directory with -a root=/path/")
        self.roots = ["/" + r.strip("/") + "/" if r.strip("/") else "/" for r in roots]
        self.include = split_arg(include) or list(self.default_include)
        self.exclude = split_arg(exclude)
        self.max_depth = int(max_depth) if max_depth is not None else self.default_max_depth
        if render_js is not None:
            self.render_js = str(render_js).lower() in ("1", "true", "yes")
        self._seen_dirs: set[str] = set()

    async def discover(self) -> AsyncIterator[Any]:
        for root in self.roots:
            yield self.directory_request(self.base_url + root, root, 0)

    def directory_request(self, url: str, root: str, depth: int) -> scrapy.Request:
        return scrapy.Request(
            url,
            callback=self.parse_directory,
            errback=self.listing_failed,
            cb_kwargs={"root": root, "depth": depth},
            meta={"playwright": True} if self.render_js else {},
        )

    def parse_directory(self, response: Response, root: str, depth: int) -> Iterator[Any]:
        dir_url = response.url if response.url.endswith("/") else response.url + "/"
        if dir_url in self._seen_dirs:
            return
        self._seen_dirs.add(dir_url)
        self.crawler.stats.inc_value(f"{self.archive}/listing/directories")
        for entry in parse_index(response.text, dir_url):
            if entry.is_dir:
                if depth + 1 > self.max_depth:
                    self.crawler.stats.inc_value(f"{self.archive}/listing/max_depth_reached")
                    continue
                if entry.url not in self._seen_dirs and self.wanted_directory(entry, root):
                    yield self.directory_request(entry.url, root, depth + 1)
                continue
            rel = self.path_below_root(entry.url, root)
            if not self.wanted(rel):
                continue
            item = self.file_item(entry, rel)
            if item is not None:
                yield item

    # -- hooks for archives ----------------------------------------------------------------
    def archive_path_of(self, url: str) -> str:
        """The archive's own path of a URL (its path on the origin, decoded)."""
        return unquote(urlsplit(url).path).lstrip("/")

    def path_below_root(self, url: str, root: str) -> str:
        return self.archive_path_of(url)[len(root.lstrip("/")) :]

    def wanted(self, rel: str) -> bool:
        if self.include and not any(
            fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(rel.rsplit("/", 1)[-1], p)
            for p in self.include
        ):
            return False
        return not any(fnmatch.fnmatch(rel, p) for p in self.exclude)

    def wanted_directory(self, entry: IndexEntry, root: str) -> bool:
        rel = self.path_below_root(entry.url, root) + "/"
        return not any(fnmatch.fnmatch(rel, p) for p in self.exclude)

    def file_item(self, entry: IndexEntry, rel: str) -> CapturedFile | None:
        metadata: dict[str, Any] = {}
        if entry.size_estimate is not None:
            metadata["listing_size_estimate"] = entry.size_estimate
            metadata["listing_size_text"] = entry.size_text
        if entry.modified:
            metadata["listing_modified"] = entry.modified
        return self.new_file(entry.url, self.archive_path_of(entry.url), metadata=metadata)
