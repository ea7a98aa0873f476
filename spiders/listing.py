"""Base spider for archives published as HTML directory trees (Apache fancy indexes, nginx
autoindex, NASA NCCS datashare pages).

Recursion is bounded and loop-free: only links to children of the current directory are
followed (never ``../``, sort links ``?C=M;O=A``, or absolute links elsewhere), each directory
is visited once, and ``max_depth`` stops server-side symlink loops. Listing sizes are recorded
as estimates (``metadata.listing_size_estimate``), never used to reject a file. Absolute links
to the archive's real hosts (``default_base_url``, ``extra_hosts``) are re-rooted onto
``base_url``, so a mirror that serves the real pages verbatim is crawled on the mirror; links a
mirror rewrote to itself are the archive's own too.

Arguments (:class:`ListingParams`, extended by each archive with its defaults): ``-a
root=/path/`` (comma-separated start directories; public locations move), ``-a
include=*.nc,*.fits`` and ``-a exclude=*/old/*`` (shell patterns on the path below the root),
``-a max_depth=N``, ``-a render_js=1`` (listing pages built by JavaScript are rendered in
headless Chromium through scrapy-playwright; files are still streamed without a browser).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import scrapy
from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from scrapy.http import Response
from scrapy_spider_metadata import Args

from capture.autoindex import IndexEntry, parse_index
from capture.items import CapturedFile
from spiders.base import CaptureParams, CaptureSpider, SpiderArgumentError
from spiders.params import CommaList, Flag


def _whole(value: Any) -> Any:
    """Name the bound in a parse error too (``spiders.params`` reads it from the error's
    context), so ``-a max_depth=deep`` says "non-negative", not "positive"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise PydanticCustomError("int_parsing", "Input should be a valid integer", {"ge": 0})


#: A whole number >= 0.
NonNegativeInt = Annotated[int, BeforeValidator(_whole), Field(ge=0)]


def _directories(value: list[str]) -> list[str]:
    """``grids`` / ``/grids`` / ``/grids/`` -> ``/grids/``; URLs and ``..`` are refused (a root
    is a path on ``base_url``, and recursion never walks upwards)."""
    out = []
    for root in value:
        if "://" in root or root.startswith("//"):
            raise ValueError(f"expected a path on base_url, not a URL: {root!r}")
        if any(part in ("..", ".") for part in root.split("/")):
            raise ValueError(f"expected a path without '.' or '..' segments: {root!r}")
        if "?" in root or "#" in root:
            raise ValueError(f"expected a directory path, without query or fragment: {root!r}")
        out.append("/" + root.strip("/") + "/" if root.strip("/") else "/")
    return list(dict.fromkeys(out))


#: Comma-separated start directories, normalised to ``/a/b/``.
Directories = Annotated[CommaList, AfterValidator(_directories)]


class ListingParams(CaptureParams):
    """Arguments of every directory-listing archive; each archive's subclass sets its
    defaults (start directories, include patterns, depth)."""

    root: Directories = Field(
        default=[],
        description="start directories on the archive, comma-separated absolute paths "
        "(public locations move)",
    )
    include: CommaList = Field(
        default=[],
        description="shell patterns a file's path below the root (or its name) must match, "
        "e.g. *.nc,*.fits (empty: every file)",
    )
    exclude: CommaList = Field(
        default=[],
        description="shell patterns on the path below the root of files and directories to "
        "skip, e.g. */old/*",
    )
    max_depth: NonNegativeInt = Field(
        20,
        description="directory levels below the root that are listed (bounds server-side "
        "symlink loops)",
    )


_FLAG: TypeAdapter[bool] = TypeAdapter(Flag)


class DirectoryListingSpider(CaptureSpider, Args[ListingParams]):
    #: Render listing pages in Chromium (``-a render_js=1``) for archives that build them with JS.
    render_js: bool = False
    _seen_dirs: set[str]

    @classmethod
    def from_crawler(cls, crawler: Any, *args: Any, **kwargs: Any) -> Any:
        # The download handler must be switched while the crawler's settings are still open,
        # i.e. before __init__ validates the arguments: parse render_js by the same Flag rule
        # here. A malformed value is left to __init__, which refuses it in one line.
        given = kwargs.get("render_js", cls.param_model().model_fields["render_js"].default)
        try:
            wanted = _FLAG.validate_python(given)
        except ValidationError:
            wanted = False
        if wanted:
            from capture.transfer.playwright import enable

            enable(crawler.settings)
        return super().from_crawler(crawler, *args, **kwargs)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        params: ListingParams = self.args
        self.roots: list[str] = list(params.root)
        self.include: list[str] = list(params.include)
        self.exclude: list[str] = list(params.exclude)
        self.max_depth: int = params.max_depth
        self.render_js = params.render_js
        self._seen_dirs = set()
        if not self.roots:
            self.no_root()

    def no_root(self) -> None:
        """No start directory given and none by default: the archive needs ``-a root=``."""
        raise SpiderArgumentError(f"{self.name}: give a start directory with -a root=/path/")

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
        for entry in self.listing_entries(response.text, dir_url):
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

    # -- hosts -----------------------------------------------------------------------------
    def real_origins(self) -> list[str]:
        """``scheme://host`` of the archive's real hosts other than the configured origin
        (empty when crawling the real origin itself with no other hosts)."""
        base = urlsplit(self.base_url)
        hosts = [urlsplit(self.default_base_url).netloc, *self.extra_hosts]
        out = []
        for host in dict.fromkeys(h.lower() for h in hosts if h and not h.startswith(".")):
            for scheme in ("https", "http"):
                if (scheme, host) != (base.scheme, base.netloc.lower()):
                    out.append(f"{scheme}://{host}")
        return out

    def rehome(self, url: str) -> str:
        """A URL on one of the archive's hosts, re-rooted onto ``base_url`` (same path)."""
        parts = urlsplit(url)
        return self.base_url + parts.path + (f"?{parts.query}" if parts.query else "")

    def listing_entries(self, text: str, dir_url: str) -> list[IndexEntry]:
        """Children of a listing page: links on the configured origin (relative ones, and
        absolute ones a mirror rewrote to itself), plus absolute links to the archive's real
        hosts for the same directory, re-rooted onto ``base_url``."""
        entries = {e.url: e for e in parse_index(text, dir_url)}
        path = urlsplit(dir_url).path
        lowered = text.lower()
        for origin in self.real_origins():
            if origin.split("://", 1)[1] not in lowered:
                continue  # no absolute link to that host on the page
            for entry in parse_index(text, origin + path):
                if not self.on_archive_host(entry.url, urlsplit(origin).netloc):
                    continue
                url = self.rehome(entry.url)
                if url not in entries:
                    self.crawler.stats.inc_value(f"{self.archive}/listing/rerooted_links")
                    entries[url] = dataclasses.replace(entry, url=url)
        return list(entries.values())

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
