"""Base spider for archives published as HTML directory trees (Apache fancy indexes, nginx
autoindex, NASA NCCS datashare pages), or as FTP trees (``-a base_url=ftp://host``: directories
are listed with ``MLSD``, else ``LIST``, see :mod:`capture.formats.ftplisting`).

Recursion is bounded and loop-free: only links to children of the current directory are
followed (never ``../``, sort links ``?C=M;O=A``, or absolute links elsewhere), each directory
is visited once, and ``max_depth`` stops server-side symlink loops. Listing sizes are recorded
as estimates (``metadata.listing_size_estimate``): they never fail a file's verification, they
only bound its body (``CAPTURE_ESTIMATE_SIZE_FACTOR`` x estimate + 1 MiB: an endless body
served for a "4.2M" file is cut). Absolute links
to the archive's real hosts (``default_base_url``, ``extra_hosts``) are re-rooted onto
``base_url``, so a mirror that serves the real pages verbatim is crawled on the mirror; links a
mirror rewrote to itself are the archive's own too.

Hostile or broken listings are bounded per crawl process (:class:`ListingBounds`,
settings ``CAPTURE_LISTING_*``, per spider through ``custom_settings``): directories listed,
listing requests scheduled (retries and redirects included) and directories queued but not yet
answered (the scheduler holds each in memory); reaching one stops listing with one WARNING, the
``<archive>/listing/bound_reached`` stat and a partial outcome. A directory whose listing shows
exactly what one of its ancestors' shows (one or more entries, same names, sizes and dates) is
a server-side symlink loop and is not descended into; ancestors' fingerprints travel in request
meta, so siblings with the same content (empty or mirrored directories) are still listed.
Deeper directories are asked first (request priority = depth) to keep the queue short, and a
listing page larger than ``CAPTURE_LISTING_MAX_BYTES`` after decompression (a gzip bomb) fails
for its directory only. Once the crawl is stopping (Ctrl-C) a listing yields nothing new: its
own request goes back to the queue, so JOBDIR keeps it for the resume.

Arguments (:class:`ListingParams`, extended by each archive with its defaults): ``-a
root=/path/`` (comma-separated start directories; public locations move), ``-a
include=*.nc,*.fits`` and ``-a exclude=*/old/*`` (shell patterns on the path below the root),
``-a max_depth=N``, ``-a render_js=1`` (listing pages built by JavaScript are rendered in
headless Chromium through scrapy-playwright; files are still streamed without a browser).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import logging
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self
from urllib.parse import unquote, urlsplit

import scrapy
from pydantic import AfterValidator, BeforeValidator, Field, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from scrapy import signals
from scrapy.exceptions import IgnoreRequest
from scrapy.http import Response
from scrapy.settings import BaseSettings
from scrapy_spider_metadata import Args
from twisted.python.failure import Failure

from capture import settings as defaults
from capture.config import CaptureSettings
from capture.formats.autoindex import IndexEntry, listing_fingerprint, parse_index
from capture.formats.ftplisting import HEADER as FTP_LISTING
from capture.formats.ftplisting import parse_listing as parse_ftp_listing
from capture.items import CapturedFile
from spiders.base import CaptureParams, CaptureSpider, SpiderArgumentError
from spiders.params import CommaList, Flag

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


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
#: Meta keys Scrapy's downloader and middlewares write on each attempt (the list Scrapy's
#: MetaCopyDetectionMiddleware warns about), plus the slot key.
_DOWNLOADER_META = frozenset(
    {
        "_auth_proxy",
        "_dont_cache",
        "_scheme_proxy",
        "cache_timestamp",
        "download_latency",
        "download_slot",
        "redirect_reasons",
        "redirect_times",
        "redirect_ttl",
        "redirect_urls",
        "retry_times",
    }
)

logger = logging.getLogger(__name__)

#: Request meta of a directory listing request: content fingerprints of the directory's
#: ancestors (nearest last). Its presence marks a request as a listing request.
ANCESTORS = "capture_listing_ancestors"
#: Request meta: the URL at which the directory was first counted against the bounds (so
#: retries and redirects of the same directory are not counted as new directories).
COUNTED = "capture_listing_counted"


@dataclasses.dataclass(frozen=True)
class ListingBounds:
    """Per-crawl bounds of a directory-listing crawl (0: no bound). Each names the setting
    that sets it, for the one WARNING line said when it is reached."""

    max_directories: int = defaults.CAPTURE_LISTING_MAX_DIRECTORIES
    max_requests: int = defaults.CAPTURE_LISTING_MAX_REQUESTS
    max_queued: int = defaults.CAPTURE_LISTING_MAX_QUEUED
    max_bytes: int = defaults.CAPTURE_LISTING_MAX_BYTES

    SETTINGS: ClassVar[dict[str, str]] = {
        "max_directories": "CAPTURE_LISTING_MAX_DIRECTORIES",
        "max_requests": "CAPTURE_LISTING_MAX_REQUESTS",
        "max_queued": "CAPTURE_LISTING_MAX_QUEUED",
        "max_bytes": "CAPTURE_LISTING_MAX_BYTES",
    }

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ListingBounds:
        c = CaptureSettings.from_settings(settings)
        return cls(
            **{
                field: max(0, getattr(c, field.replace("max_", "listing_max_")))
                for field in cls.SETTINGS
            }
        )


@dataclasses.dataclass
class ListingProgress:
    """Counters of one listing crawl, kept on the spider (no global store)."""

    directories: int = 0  # directories accepted for listing
    requests: int = 0  # listing requests scheduled (retries and redirects included)
    queued: int = 0  # directories scheduled and not answered yet
    peak_queued: int = 0
    stopped: str | None = None  # the bound that stopped listing


class DirectoryListingSpider(CaptureSpider, Args[ListingParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: ListingParams
    #: Render listing pages in Chromium (``-a render_js=1``) for archives that build them with JS.
    render_js: bool = False
    _seen_dirs: set[str]

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
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
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.bounds = ListingBounds.from_settings(crawler.settings)
        crawler.signals.connect(spider._listing_scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(spider._listing_dropped, signal=signals.request_dropped)
        crawler.signals.connect(spider._listing_answered, signal=signals.response_received)
        return spider

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        params: ListingParams = self.args
        self.roots: list[str] = list(params.root)
        self.include: list[str] = list(params.include)
        self.exclude: list[str] = list(params.exclude)
        self.max_depth: int = params.max_depth
        self.render_js = params.render_js
        self._seen_dirs = set()
        self.bounds = ListingBounds()
        self.progress = ListingProgress()
        if not self.roots:
            self.no_root()

    def no_root(self) -> None:
        """No start directory given and none by default: the archive needs ``-a root=``."""
        raise SpiderArgumentError(f"{self.name}: give a start directory with -a root=/path/")

    async def discover(self) -> AsyncIterator[Any]:
        for root in self.roots:
            yield self.directory_request(self.base_url + root, root, 0)

    def directory_request(self, url: str, root: str, depth: int) -> scrapy.Request:
        """A listing request: depth-first (deeper directories first keeps the queue to the
        subdirectories along the current path), its page capped at ``max_bytes``."""
        meta: dict[str, Any] = {ANCESTORS: ()}
        if self.render_js:
            meta["playwright"] = True
        if self.bounds.max_bytes:
            meta["download_maxsize"] = self.bounds.max_bytes
        return scrapy.Request(
            url,
            callback=self.parse_directory,
            errback=self.listing_failed,
            cb_kwargs={"root": root, "depth": depth},
            meta=meta,
            priority=depth,
        )

    def parse_directory(self, response: Response, root: str, depth: int) -> Iterator[Any]:
        dir_url = response.url if response.url.endswith("/") else response.url + "/"
        if dir_url in self._seen_dirs:
            return
        if not self.crawler.crawling:
            yield self._requeue(response)
            return
        dialect = response.headers.get(FTP_LISTING)
        if dialect:  # an ftp:// directory (capture/transfer/ftp.py): MLSD or LIST lines
            entries = parse_ftp_listing(response.text, dir_url, dialect.decode("ascii", "replace"))
        else:
            entries = self.listing_entries(response.text, dir_url)
        ancestors: tuple[str, ...] = tuple(response.meta.get(ANCESTORS, ()))
        fingerprint = listing_fingerprint(entries)
        # An empty listing is never called a loop (empty directories are alike); a real
        # ``data/data/file`` chain differs level by level (``data/`` lists ``data/``, the next
        # lists ``file``), so one identical entry (name, size, date) is enough to tell a loop.
        if entries and fingerprint in ancestors:
            self._loop_pruned(dir_url, ancestors[::-1].index(fingerprint) + 1)
            return
        self._seen_dirs.add(dir_url)
        self.crawler.stats.inc_value(f"{self.archive}/listing/directories")
        lineage = (*ancestors, fingerprint)
        for entry in entries:
            if not self.crawler.crawling:
                # Ctrl-C mid-page: nothing new; the directory is listed again on resume.
                yield self._requeue(response)
                return
            if entry.is_dir:
                if depth + 1 > self.max_depth:
                    self.crawler.stats.inc_value(f"{self.archive}/listing/max_depth_reached")
                    continue
                if entry.url in self._seen_dirs or not self.wanted_directory(entry, root):
                    continue
                if self.progress.stopped:
                    self.crawler.stats.inc_value(f"{self.archive}/listing/not_listed")
                    continue
                request = self.directory_request(entry.url, root, depth + 1)
                request.meta[ANCESTORS] = lineage
                yield request
                continue
            rel = self.path_below_root(entry.url, root)
            if not self.wanted(rel):
                continue
            item = self.file_item(entry, rel)
            if item is not None:
                yield item

    def _requeue(self, response: Response) -> scrapy.Request:
        """The directory's own request again, for the scheduler (and JOBDIR) to keep: after
        Ctrl-C its listing is not expanded, and the dupefilter must not lose it on resume."""
        self.crawler.stats.inc_value(f"{self.archive}/listing/requeued_at_shutdown")
        assert response.request is not None
        request = response.request
        # Keys the downloader set on this attempt are not the request's to carry forward.
        meta = {k: v for k, v in request.meta.items() if k not in _DOWNLOADER_META}
        return request.replace(dont_filter=True, meta=meta)

    def _loop_pruned(self, dir_url: str, levels_up: int) -> None:
        self.crawler.stats.inc_value(f"{self.archive}/listing/content_loops_pruned")
        ancestor = "/".join(dir_url.rstrip("/").split("/")[:-levels_up]) + "/"
        logger.warning(
            "Not descending into %s: its listing is that of its ancestor %s (a server-side "
            "symlink loop)",
            dir_url,
            ancestor,
        )

    # -- bounds ----------------------------------------------------------------------------
    def _listing_scheduled(self, request: scrapy.Request, spider: Any = None) -> None:
        """Count every listing request as the engine schedules it (retries and redirects
        too); refuse it (``IgnoreRequest``, which the engine drops silently) past a bound."""
        if ANCESTORS not in request.meta:
            return
        progress, bounds = self.progress, self.bounds
        first = COUNTED not in request.meta
        if progress.stopped:
            self._refuse(first)
        if bounds.max_requests and progress.requests >= bounds.max_requests:
            self._stop_listing("max_requests", f"{bounds.max_requests} listing requests")
            self._refuse(first)
        if first:
            if bounds.max_directories and progress.directories >= bounds.max_directories:
                self._stop_listing("max_directories", f"{bounds.max_directories} directories")
                self._refuse(first)
            if bounds.max_queued and progress.queued >= bounds.max_queued:
                self._stop_listing("max_queued", f"{bounds.max_queued} queued directories")
                self._refuse(first)
            request.meta[COUNTED] = request.url
            progress.directories += 1
            progress.queued += 1
            progress.peak_queued = max(progress.peak_queued, progress.queued)
        progress.requests += 1
        self.crawler.stats.inc_value(f"{self.archive}/listing/requests")

    def _refuse(self, first: bool) -> None:
        self.crawler.stats.inc_value(f"{self.archive}/listing/not_listed")
        if not first:
            self._listing_done()  # a retry or redirect of a directory already counted
        raise IgnoreRequest("listing bound reached")

    def _listing_dropped(self, request: scrapy.Request, spider: Any = None) -> None:
        """The scheduler refused it (a duplicate): it neither waits nor counts."""
        if ANCESTORS not in request.meta:
            return
        self.progress.requests = max(0, self.progress.requests - 1)
        if request.meta.get(COUNTED) == request.url:
            self.progress.directories = max(0, self.progress.directories - 1)
        self._listing_done()

    def _listing_answered(self, response: Response, request: scrapy.Request, **_: Any) -> None:
        if ANCESTORS in request.meta:
            self._listing_done()

    def _listing_done(self) -> None:
        self.progress.queued = max(0, self.progress.queued - 1)

    def _stop_listing(self, bound: str, what: str) -> None:
        """Stop listing (once): later directories are not requested, files already found are
        still captured, and the crawl ends partial (``capture.outcomes`` counts the
        ``/listing_truncated`` stat), never "finished" as if the tree were complete."""
        if self.progress.stopped:
            return
        self.progress.stopped = bound
        setting = ListingBounds.SETTINGS[bound]
        stats = self.crawler.stats
        stats.set_value(f"{self.archive}/listing/bound_reached", setting)
        stats.set_value("capture/listing/stop_reason", f"listing stopped at {what} ({setting})")
        stats.inc_value(f"{self.archive}/listing_truncated")
        logger.warning(
            "Listing of %s stopped at %s (%s): the tree is larger than that, or loops; "
            "files found so far are still captured and the crawl is partial",
            self.archive,
            what,
            setting,
        )

    def listing_failed(self, failure: Failure) -> None:
        request = getattr(failure, "request", None)
        if request is not None and ANCESTORS in request.meta:
            self._listing_done()
        if request is not None and self._too_large(failure, request):
            self.crawler.stats.inc_value(f"{self.archive}/listing/too_large")
            self.crawler.stats.inc_value(f"{self.archive}/listing_failed")
            logger.error(
                "Listing %s refused: its page is larger than %d bytes once decompressed "
                "(CAPTURE_LISTING_MAX_BYTES; a broken page or a compression bomb); that "
                "directory is not listed",
                request.url,
                request.meta["download_maxsize"],
            )
            return
        super().listing_failed(failure)

    @staticmethod
    def _too_large(failure: Failure, request: scrapy.Request) -> bool:
        """Whether the page went over ``download_maxsize`` (Scrapy's HTTP handler cancels the
        body; HttpCompressionMiddleware ignores a response that inflates past it)."""
        if "download_maxsize" not in request.meta:
            return False
        text = failure.getErrorMessage().lower()
        return "download max size" in text or "exceeded download_maxsize" in text

    def closed(self, reason: str) -> None:
        stats = self.crawler.stats
        stats.set_value(f"{self.archive}/listing/peak_queued", self.progress.peak_queued)

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
