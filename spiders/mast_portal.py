"""The MAST portal ("Mashup") API and JWST metadata API: request building and paging.

Pure functions, no Scrapy, so every protocol rule is unit-testable; the answers are read by
:mod:`capture.formats.mast_portal`. Facts and their sources
(AQ = astropy/astroquery ``astroquery/mast``):

* ``POST /api/v0/invoke`` with headers ``Content-type: application/x-www-form-urlencoded`` and
  ``Accept: text/plain``; body ``request=`` + ``urllib.parse.quote(json.dumps(request))`` where
  request is ``{"service", "params", "format": "json", "pagesize", "page", "cacheBreaker"}``
  in that key order (AQ ``discovery_portal.py``: ``service_request_async`` builds the dict,
  ``_prepare_service_request_string`` appends a uuid4 ``cacheBreaker`` and quotes it).
* While an answer's ``status`` is ``EXECUTING`` the same request is POSTed again; pages are
  fetched while ``page < pagesFiltered`` by changing only ``page`` (AQ ``PortalAPI._request``:
  one page at a time, the next asked when the previous arrived; it trusts ``pagesFiltered``
  and stops only at its 600 s ``TIMEOUT`` counted from the first request, with no check for
  empty or repeated pages). :class:`PageTracker` pages the same way but does not trust the
  count.
* Filters (AQ ``build_filter_set``): ``{"paramName": col, "values": [..]}``; discrete columns
  take string values (even numeric ones such as ``calib_level``, whose columns-config type is
  ``int``, not continuous); continuous (``double``/``float``) columns take
  ``[{"min": a, "max": b}]``; a value containing ``*`` or ``%`` becomes
  ``"freeText": value.replace("*", "%")`` and leaves ``values`` (only ONE wildcard per filter);
  columns with a ``separator`` in the columns config (``obs_collection``, ``filters``: ``";"``)
  carry it (sample ``columnsconfig_caom.json``).
* ``Mast.Caom.Products`` params ``{"obsid": "id1,id2,.."}`` (AQ ``get_product_list_async``);
  AQ batches obsids since PR #3454 (``batch_size``), the number per call is ours to choose.
* ``GET /api/v0.1/Download/file?uri=<quote(uri, safe=":/")>`` (AQ ``download_file``; used
  for JWST URIs in third-party code; MAST's own JWST curl scripts use a
  ``/jwst/api/v0.1/Download/file`` variant, which we do not need).
* ``GET /viz/api/v0.1/keywords/search?uri=<dataURI>`` asks for one JWST file's keywords,
  among them its md5, the only published digest for MAST files (MAST docs "API for JWST
  Metadata").
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from itertools import product
from typing import Any, TypeVar
from urllib.parse import quote

from capture.formats.mast_portal import PortalAnswer

T = TypeVar("T")
INVOKE_PATH = "/api/v0/invoke"
DOWNLOAD_PATH = "/api/v0.1/Download/file"
VIZ_KEYWORDS_PATH = "/viz/api/v0.1/keywords/search"
#: MAST's path lookup: a product's path in the archive, which is its key in the cloud bucket.
PATH_LOOKUP_PATH = "/api/v0.1/path_lookup/"
INVOKE_HEADERS = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/plain"}
FILTERED = "Mast.Caom.Filtered"
PRODUCTS = "Mast.Caom.Products"
# AQ conf.pagesize default.
DEFAULT_PAGESIZE = 50000
VIZ_SOURCE = "MAST viz keywords/search"


# -- filters -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    name: str
    continuous: bool = False
    separator: str | None = None


# CAOM observation columns a crawl may filter on, typed as in MAST's columns config for
# Mast.Caom.Cone (sample columnsconfig_caom.json: vot.datatype char/int -> discrete,
# double -> continuous; separator ";" on obs_collection and filters).
COLUMNS: dict[str, Column] = {
    c.name: c
    for c in (
        Column("obs_collection", separator=";"),
        Column("instrument_name"),
        Column("target_name"),
        Column("proposal_id"),
        Column("proposal_pi"),
        Column("obs_id"),
        Column("calib_level"),
        Column("dataproduct_type"),
        Column("intentType"),
        Column("filters", separator=";"),
        Column("t_min", continuous=True),
        Column("t_max", continuous=True),
        Column("t_exptime", continuous=True),
        Column("t_obs_release", continuous=True),
        Column("em_min", continuous=True),
        Column("em_max", continuous=True),
    )
}
# Short spider-argument names for the common columns.
ALIASES = {"instrument": "instrument_name", "target": "target_name"}


def is_wildcard(value: str) -> bool:
    return "*" in value or "%" in value


def column_filter(column: Column, values: list[str]) -> dict[str, Any]:
    """One mashup filter entry, shaped exactly like AQ ``build_filter_set`` builds it.

    ``values`` may hold at most one wildcard (the portal takes one ``freeText`` per filter);
    :func:`filter_sets` splits argument lists so that this always holds.
    """
    entry: dict[str, Any] = {"paramName": column.name}
    if column.separator:
        entry["separator"] = column.separator
    if column.continuous:
        low, high = (float(v) for v in values[:2])
        entry["values"] = [{"min": low, "max": high}]
        return entry
    wild = [v for v in values if is_wildcard(v)]
    if len(wild) > 1:
        raise ValueError(f"{column.name}: only one wildcard value per filter, got {wild}")
    entry["values"] = [v for v in values if not is_wildcard(v)]
    if wild:
        entry["freeText"] = wild[0].replace("*", "%")
    return entry


def filter_sets(criteria: dict[str, list[str]]) -> list[list[dict[str, Any]]]:
    """The filter lists of the Mast.Caom.Filtered queries that together cover ``criteria``.

    A column's exact values go into one filter; each wildcard value needs a query of its own
    (one ``freeText`` per filter), so several wildcards give several queries whose results
    are merged (by obsid) by the caller.
    """
    per_column: list[list[dict[str, Any]]] = []
    for name, values in criteria.items():
        column = COLUMNS[name]
        if column.continuous:
            per_column.append([column_filter(column, values)])
            continue
        exact = [v for v in values if not is_wildcard(v)]
        groups = ([exact] if exact else []) + [[w] for w in values if is_wildcard(w)]
        per_column.append([column_filter(column, g) for g in groups])
    return [list(combo) for combo in product(*per_column)]


# -- invoke requests -----------------------------------------------------------------------
@dataclass(frozen=True)
class PortalCall:
    """One logical invoke request (a service, its params, one page) and its retry state."""

    service: str
    params: dict[str, Any]
    page: int = 1
    pagesize: int = DEFAULT_PAGESIZE
    cache_breaker: str = field(default_factory=lambda: str(uuid.uuid4()))
    polls: int = 0
    malformed: int = 0
    label: str = ""

    def body(self) -> str:
        request = {
            "service": self.service,
            "params": self.params,
            "format": "json",
            "pagesize": self.pagesize,
            "page": self.page,
            "cacheBreaker": self.cache_breaker,
        }
        return "request=" + quote(json.dumps(request))

    def poll(self) -> PortalCall:
        """The identical request again (AQ re-POSTs the same body while EXECUTING)."""
        return replace(self, polls=self.polls + 1)

    def retry_malformed(self) -> PortalCall:
        return replace(self, malformed=self.malformed + 1)

    def at_page(self, page: int) -> PortalCall:
        """Another page of the same query: same body and cacheBreaker but ``page`` (as AQ)."""
        return replace(self, page=page, polls=0, malformed=0)

    @property
    def name(self) -> str:
        return f"{self.service} {self.label} page {self.page}".replace("  ", " ")


# -- paging that a lying server cannot blow up ---------------------------------------------
#: Default cap on pages per query (``CAPTURE_MAST_MAX_PAGES``; see capture/settings.py).
DEFAULT_MAX_PAGES = 10_000


def row_key(service: str, row: dict[str, Any]) -> str:
    """What makes a row "the same row" within one query: the observation's ``obsid``; a
    product's ``obsID`` and ``dataURI`` (one file is listed under several observations);
    the whole row where those are missing."""
    if service == FILTERED and row.get("obsid") is not None:
        return f"obsid:{row['obsid']}"
    if service == PRODUCTS and row.get("dataURI") is not None:
        return f"product:{row.get('obsID')}|{row['dataURI']}"
    return "row:" + json.dumps(row, sort_keys=True, default=str)


def _digest(text: str) -> int:
    """64-bit fingerprint: a million row keys cost tens of MB, not the rows themselves."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True)
class PageStop:
    """Why paging of one query ends. ``truncated``: rows the server claims were not received
    (the crawl is then partial); ``reason`` is a short stats key."""

    reason: str  # end | empty_page | repeated_page | no_new_rows | cap_reached
    truncated: bool


PAGING_DONE = PageStop("end", truncated=False)


@dataclass
class PageTracker:
    """Fingerprints of the pages and rows one query has shown, to page it lazily (one page
    ahead) without trusting ``pagesFiltered``.

    A page ends paging when it is empty, when it repeats an earlier page (same row keys), when
    none of its rows is new, when it is the last page claimed, or at ``max_pages``. Kept in the
    spider's memory (row fingerprints of a whole query do not belong in every pickled page
    request); after a JOBDIR resume tracking restarts at the resumed page and the page cap,
    counted by page number, still holds.
    """

    service: str
    max_pages: int = DEFAULT_MAX_PAGES
    page_prints: set[int] = field(default_factory=set)
    row_prints: set[int] = field(default_factory=set)
    rows: int = 0

    def take(
        self, page: int, answer: PortalAnswer, key: Callable[[str, dict[str, Any]], str] = row_key
    ) -> tuple[list[dict[str, Any]], PageStop | None]:
        """The rows of ``page`` not seen before in this query, and why paging stops here
        (``None``: ask for page ``page + 1``)."""
        if not answer.rows:
            return [], self._empty(page, answer)
        prints = [_digest(key(self.service, row)) for row in answer.rows]
        page_print = _digest(",".join(map(str, sorted(set(prints)))))
        if page_print in self.page_prints:
            return [], PageStop("repeated_page", truncated=True)
        self.page_prints.add(page_print)
        new: list[dict[str, Any]] = []
        for row, print_ in zip(answer.rows, prints, strict=True):
            if print_ not in self.row_prints:
                self.row_prints.add(print_)
                new.append(row)
        if not new:
            return [], PageStop("no_new_rows", truncated=True)
        self.rows += len(new)
        if page >= answer.pages:
            return new, PAGING_DONE
        if page >= self.max_pages:
            return new, PageStop("cap_reached", truncated=True)
        return new, None

    def _empty(self, page: int, answer: PortalAnswer) -> PageStop:
        # An empty page ends the query. It lost rows only if the server claimed more than came
        # (rowsFiltered), or, without that count, if it claimed more pages.
        claimed = answer.rows_filtered
        short = self.rows < claimed if claimed is not None else page < answer.pages
        if not short and page >= answer.pages:
            return PAGING_DONE
        return PageStop("empty_page", truncated=short)


def batches(ids: list[T], size: int) -> Iterator[list[T]]:
    for i in range(0, len(ids), size):
        yield ids[i : i + size]


# -- products ------------------------------------------------------------------------------
MRP = "Minimum Recommended Products"


@dataclass(frozen=True)
class ProductFilter:
    """Which ``Mast.Caom.Products`` rows to capture (AQ ``filter_products`` semantics: AND
    between filters, OR within one). ``None`` means "any"."""

    product_types: frozenset[str] | None = frozenset({"SCIENCE"})
    subgroups: frozenset[str] | None = None
    calib_levels: frozenset[int] | None = None
    extensions: tuple[str, ...] = ()
    mrp_only: bool = False
    public_only: bool = True

    def skip_reason(self, row: dict[str, Any]) -> str | None:
        """Why a product row is not wanted (a short stats key), or None to capture it."""
        uri = row.get("dataURI")
        if not isinstance(uri, str) or not uri.startswith("mast:"):
            return "no_mast_uri"
        if self.product_types is not None and row.get("productType") not in self.product_types:
            return "product_type"
        if self.subgroups is not None and row.get("productSubGroupDescription") not in (
            self.subgroups
        ):
            return "subgroup"
        if self.calib_levels is not None and _int(row.get("calib_level")) not in (
            self.calib_levels
        ):
            return "calib_level"
        name = str(row.get("productFilename") or uri)
        if self.extensions and not name.endswith(self.extensions):
            return "extension"
        if self.mrp_only and row.get("productGroupDescription") != MRP:
            return "not_mrp"
        # JWST rows carry dataRights ("PUBLIC" seen); HST rows have none (sample), so a
        # missing value is taken as public: a refused download then fails clearly.
        rights = row.get("dataRights")
        if self.public_only and rights not in (None, "", "PUBLIC"):
            return "not_public"
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def archive_path_for(uri: str) -> str:
    """``mast:JWST/product/x.fits`` -> ``JWST/product/x.fits`` (the archive's own path)."""
    if not uri.startswith("mast:"):
        raise ValueError(f"not a MAST data URI: {uri!r}")
    return uri[len("mast:") :].lstrip("/")


def uri_query(uri: str) -> str:
    """The ``uri=`` query of Download/file and viz, escaped as AQ does (``safe=":/"``)."""
    return "uri=" + quote(uri, safe=":/")


def download_url(base_url: str, uri: str) -> str:
    return f"{base_url}{DOWNLOAD_PATH}?{uri_query(uri)}"


def viz_keywords_url(base_url: str, uri: str) -> str:
    return f"{base_url}{VIZ_KEYWORDS_PATH}?{uri_query(uri)}"


def path_lookup_url(base_url: str, uris: list[str]) -> str:
    """``GET /api/v0.1/path_lookup/?uri=A&uri=B``: astroquery's ``utils.mast_relative_path``
    (requests encodes the list as repeated ``uri=``); the answer maps each URI to
    ``{"status_code": 200, "path": "/jwst/public/..."}`` (``path`` null when unknown)."""
    return f"{base_url}{PATH_LOOKUP_PATH}?" + "&".join(uri_query(u) for u in uris)


def cloud_key(path: Any) -> str | None:
    """The ``stpubdata`` key of a path_lookup ``path``, exactly as astroquery maps it
    (``astroquery/mast/utils.py mast_relative_path`` + ``cloud.py get_cloud_uri_list``):
    the path without its leading ``/``, e.g. ``/jwst/public/jw02727/L3/t/o002/<file>`` ->
    ``jwst/public/jw02727/L3/t/o002/<file>`` in bucket ``stpubdata``. (GALEX, PS1 and HLSP
    paths are rewritten by astroquery; JWST paths are not.) None for a missing or unsafe
    path."""
    if not isinstance(path, str) or not path.strip("/"):
        return None
    key = path.lstrip("/")
    if any(part in ("", ".", "..") for part in key.split("/")):
        return None
    return key
