"""JWST spectra (and any other JWST products) from MAST, found through the portal API.

Protocol (astroquery ``astroquery/mast`` and MAST's own documentation; details and
sources in :mod:`spiders.mast_portal`, the answers' in :mod:`capture.formats.mast_portal`):

1. ``Mast.Caom.Filtered`` on ``POST /api/v0/invoke`` with ``obs_collection=JWST`` plus the
   filters given as arguments; re-POSTed while ``status`` is ``EXECUTING`` (bounded,
   ``-a max_polls``, with a growing pause scaled by ``CAPTURE_BACKOFF_TIME_SCALE``; astroquery
   re-POSTs at once until its 600 s timeout); pages are asked one at a time, page n+1 when
   page n arrives (as astroquery does), each with the same body but ``page``.
2. ``Mast.Caom.Products`` for the observations' ``obsid`` values, ``-a batch_size`` per call;
   rows are filtered as astroquery's ``filter_products`` does (AND between filters, OR within
   one) and de-duplicated by ``dataURI`` (one product belongs to several observations).
3. For each JWST file, ``GET /viz/api/v0.1/keywords/search?uri=`` gives ``fileSize`` and the
   md5 ``checksum`` (``-a verify_md5=0`` skips it); the file is
   ``GET /api/v0.1/Download/file?uri=`` stored under ``JWST/product/<file>`` (its dataURI).

Paging never trusts ``pagesFiltered`` (an answer claiming 10^6 pages once queued
them all and took RSS past 2.3 GB). One page ahead keeps memory at about one page of work;
paging of a query stops at an empty page, at a page that repeats an earlier one (same
obsids / product ids), at a page with no new row, and at ``CAPTURE_MAST_MAX_PAGES`` (the
same rules for ``Mast.Caom.Products``, which pages the same way). Each early stop is a
WARNING and a ``jwst_mast/paging/<why>`` stat; when rows the server claimed
(``rowsFiltered``) may be missing it also counts as a failed listing, so the crawl is
``partial``, never ``finished`` (:mod:`capture.outcomes`).

A malformed answer (invalid JSON) is asked again twice, then that page or batch is given up
with an error in the log and a ``jwst_mast/portal/gave_up_malformed`` stat; everything else
carries on. A viz answer that is missing, empty or malformed leaves that file without md5
(logged, ``jwst_mast/viz/<why>`` stat).

Sizes. astroquery warns that product-list sizes may be unreliable ("also check the filesize
if the database reliably reported file sizes", ``observations.py download_file``). So:

* with an md5 from viz, the md5 is the authority and the size expected is viz ``fileSize``
  (the same ingest record as the md5); a product-list ``size`` that differs is only flagged
  (``metadata.size_listed_matches = false``) because the verified md5 proves the bytes;
* without an md5, the product-list ``size`` is the expected size and a mismatch quarantines
  (after one re-transfer): it is then the only completeness check there is, in particular
  for MAST files served without Content-Length (astroquery PR #3290), where a cut
  connection is otherwise indistinguishable from the end of the file.

Token. ``MAST_API_TOKEN`` (https://auth.mast.stsci.edu/token) is sent as
``Authorization: token <TOKEN>`` (MAST's curl scripts) to the archive's hosts
only (``middlewares/credentials.py``); without it only ``dataRights == "PUBLIC"`` products are
captured. MAST's curl scripts use ``curl --location-trusted``, so downloads may redirect;
where to is UNCONFIRMED (an S3/CloudFront host was not found in any public material). A
redirect to a host outside the archive is refused unless that host is allowed with
``-s CAPTURE_EXTRA_ALLOWED_HOSTS=host`` and then it is followed WITHOUT the token (safe
under both readings: a presigned URL needs no token, a host we do not know gets none).

Instrument names. JWST ``instrument_name`` values carry the mode (``NIRSPEC/SLIT``,
``NIRISS/SOSS``), but the JWST metadata API also shows a bare ``MIRI``. So a bare name
(``-a instrument=NIRSPEC``) is sent as the wildcard ``NIRSPEC%`` (``freeText``, as
astroquery sends ``NIRSPEC*``), which matches both; ``NIRSPEC/SLIT`` matches exactly.

Default (``scrapy crawl jwst_mast``): the mission's "calibrated spectra, time series,
multi-instrument: NIRSpec, NIRISS, MIRI, NIRCam". Four ``Mast.Caom.Filtered`` queries (one
``freeText`` wildcard per filter, so one query per instrument), each with ``columns="*"`` and::

    [{"paramName": "obs_collection", "separator": ";", "values": ["JWST"]},
     {"paramName": "instrument_name", "values": [], "freeText": "NIRSPEC%"},  # NIRISS%, MIRI%,
                                                                            # NIRCAM%
     {"paramName": "calib_level", "values": ["2", "3"]},
     {"paramName": "dataproduct_type", "values": ["spectrum", "timeseries", "cube"]}]

then, of their products, ``productType == "SCIENCE"``, ``calib_level`` 2 or 3 and
``productSubGroupDescription`` in ``X1D, X1DINTS, C1D, S3D, CALINTS``; without a token only
``dataRights == "PUBLIC"`` rows. Why these values:

* ``calib_level`` 2-3: CAOM's "2 = calibrated, 3 = science product" (columns config sample,
  ``columnsconfig_caom.json``); 0/1 are raw/uncalibrated.
* ``dataproduct_type``: the config's valid values include SPECTRUM, TIMESERIES and CUBE (rows
  carry them lower-case). ``cube`` is added to the mission's spectra and time series because
  the IFU modes' spectra live there: MAST's own JWST example, a MIRI MRS observation with its
  X1D spectrum, is ``dataproduct_type: "cube"`` (sample ``jwst_viz_parameters_uri_x1d.json``).
* Subgroups are the JWST pipeline's file suffixes (jwst docs ``available_pipelines.rst``,
  ``calwebb_spec3``/``calwebb_tso3``): ``x1d`` 1-D extracted spectrum (stage 2 and 3, every
  instrument), ``x1dints`` 1-D spectra per integration (the spectroscopic time-series product:
  NIRSpec BOTS, NIRISS SOSS, MIRI LRS slitless, NIRCam grism TSO), ``c1d`` combined 1-D
  spectrum, ``s3d`` IFU cube (NIRSpec IFU, MIRI MRS), ``calints`` calibrated per-integration
  exposures (the calibrated time series of imaging TSOs, whose stage-3 product is only an
  ECSV photometry table). All are FITS with MAST md5s. Not taken: ``s2d``/``cal`` (2-D
  intermediates of the same spectra), ``i2d`` (images), ``uncal``/``rate`` (uncalibrated),
  ``whtlt``/``phot`` (ECSV summaries with no content scorer here).

Arguments (comma-separated lists; ``*`` is a wildcard; ``all`` drops a default filter):
  observation filters, one per CAOM column of :data:`spiders.mast_portal.COLUMNS` (declared
  from it, so ``-a <column>=values`` works for each): ``instrument`` (alias of
  ``instrument_name``, default ``NIRSPEC,NIRISS,MIRI,NIRCAM``), ``target`` (alias of
  ``target_name``), ``proposal_id``, ``proposal_pi``, ``obs_id``, ``calib_level`` (default
  ``2,3``, also applied to products), ``dataproduct_type`` (default
  ``spectrum,timeseries,cube``), ``filters``, ``intentType``, and
  ``t_min``/``t_max``/``t_exptime``/``t_obs_release``/``em_min``/``em_max`` as ``min,max``;
  giving a column or its alias replaces that column's default. ``obs_collection`` is fixed to
  JWST. Product filters: ``product_type`` (default ``SCIENCE``; ``all`` for every type),
  ``subgroups`` (default ``X1D,X1DINTS,C1D,S3D,CALINTS``; ``all`` for any), ``extension``
  (e.g. ``fits``), ``mrp_only=1``; ``verify_md5`` (default 1), ``pagesize`` (default 50000),
  ``batch_size`` (obsids per products call, default 500), ``max_polls`` (default 60),
  ``base_url``.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import scrapy
from pydantic import Field, create_model, field_validator
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy_spider_metadata import Args
from twisted.internet import task

from capture import citation
from capture.config import config_of
from capture.formats.fits import NotFits, primary_header
from capture.formats.mast_portal import (
    MastAnswerError,
    PortalAnswer,
    observation_record,
    parse_answer,
    parse_viz_keywords,
    product_metadata,
)
from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from capture.replicas import Replica as Mirror
from capture.secrets import secret_from_env
from spiders.base import CaptureParams, CaptureSpider, SpiderArgumentError
from spiders.mast_portal import (
    ALIASES,
    COLUMNS,
    DEFAULT_PAGESIZE,
    FILTERED,
    INVOKE_HEADERS,
    INVOKE_PATH,
    PRODUCTS,
    VIZ_SOURCE,
    PageStop,
    PageTracker,
    PortalCall,
    ProductFilter,
    archive_path_for,
    batches,
    cloud_key,
    download_url,
    filter_sets,
    is_wildcard,
    path_lookup_url,
    viz_keywords_url,
)
from spiders.params import CommaList, Flag, PositiveInt, Replica

MALFORMED_RETRIES = 2
#: URIs per path_lookup request (astroquery splits its lists in chunks of 50: "414 Client
#: Error: Request-URI Too Large").
PATH_LOOKUP_BATCH = 50
FITS_KEYWORDS = ("TELESCOP", "INSTRUME", "DETECTOR", "EXP_TYPE", "TARGPROP", "DATE-OBS")
#: ``-a <column>=all`` (or ``subgroups=all``, ``product_type=all``): no filter on it.
ALL = "all"
#: The mission's observation filters (module docstring), by argument name.
DEFAULT_CRITERIA: dict[str, tuple[str, ...]] = {
    "instrument": ("NIRSPEC", "NIRISS", "MIRI", "NIRCAM"),
    "calib_level": ("2", "3"),
    "dataproduct_type": ("spectrum", "timeseries", "cube"),
}
#: Calibrated spectra and time series among JWST pipeline products (module docstring).
DEFAULT_SUBGROUPS = ("X1D", "X1DINTS", "C1D", "S3D", "CALINTS")
#: Argument names of every filterable column: aliases first, then the CAOM names.
COLUMN_ARGS = tuple(a for a in [*ALIASES, *COLUMNS] if ALIASES.get(a, a) != "obs_collection")
CONTINUOUS_ARGS = tuple(a for a in COLUMN_ARGS if COLUMNS[ALIASES.get(a, a)].continuous)


#: MAST's JWST acknowledgement (archive.stsci.edu/publishing/mission-acknowledgements),
#: completed with the program number as MAST asks ("associated with program #NNNN").
JWST_ACKNOWLEDGEMENT = (
    "This work is based on observations made with the NASA/ESA/CSA James Webb Space Telescope. "
    "The data were obtained from the Mikulski Archive for Space Telescopes at the Space "
    "Telescope Science Institute, which is operated by the Association of Universities for "
    "Research in Astronomy, Inc., under NASA contract NAS 5-03127 for JWST."
)
MJD_EPOCH_ORDINAL = 678_576  # date(1858, 11, 17).toordinal(): MJD 0


def program_citation(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The citation a JWST product's rows support: MAST assigns DOIs per program, but neither
    ``Mast.Caom.Filtered`` nor ``Mast.Caom.Products`` nor the viz keywords carry one (recorded
    samples), so no DOI is given; the program (``proposal_id``), its PI, ``obs_title``, the
    public release year (``t_obs_release``, MJD) and MAST's acknowledgement text are."""
    from datetime import date

    program = str(meta.get("proposal_id") or "").strip()
    if not program:
        return None
    release = meta.get("t_obs_release")
    year = (
        date.fromordinal(MJD_EPOCH_ORDINAL + int(release)).year
        if isinstance(release, int | float) and release > 0
        else None
    )
    ids = [{"type": "JWST program (proposal_id)", "value": program}]
    if meta.get("obs_id"):
        ids.append({"type": "MAST obs_id", "value": str(meta["obs_id"])})
    return citation.make(
        kind="dataset",
        title=meta.get("obs_title") or f"JWST program {program}",
        authors=[str(meta["proposal_pi"])] if meta.get("proposal_pi") else [],
        publisher="Mikulski Archive for Space Telescopes (MAST)",
        year=year,
        identifiers=ids,
        text=f"{JWST_ACKNOWLEDGEMENT} These observations are associated with program #{program}.",
        source="MAST Mast.Caom.Filtered/Products rows (proposal_id, proposal_pi, obs_title, "
        "t_obs_release); no program DOI in these responses",
    )


def poll_delay(polls: int) -> float:
    """Seconds before re-POSTing an EXECUTING request: 0.5, 1, 2, 4, 8, then 10 (60 polls
    take about the 600 s astroquery allows a portal request)."""
    return min(10.0, 0.5 * 2.0**polls)


def _is_min_max(values: list[str]) -> bool:
    try:
        low, high = (float(v) for v in values)
    except ValueError:
        return False
    return low <= high


def _is_all(values: list[str]) -> bool:
    return any(v.lower() == ALL for v in values)


class _JwstMastOptions(CaptureParams):
    """Product and protocol arguments; the column filters are added by :data:`JwstMastParams`."""

    product_type: CommaList = Field(
        default=["SCIENCE"],
        description="product types to capture (productType: SCIENCE, AUXILIARY, PREVIEW, ...;"
        " 'all' for every type)",
    )
    subgroups: CommaList = Field(
        default=list(DEFAULT_SUBGROUPS),
        description="productSubGroupDescription values (JWST pipeline suffixes, e.g. X1D,S3D;"
        " 'all' for any)",
    )
    extension: CommaList = Field(
        default=[], description="only product files whose names end so (e.g. fits)"
    )
    mrp_only: Flag = Field(False, description="only MAST's Minimum Recommended Products")
    verify_md5: Flag = Field(
        True, description="ask the JWST metadata API (viz) for each file's md5 and size"
    )
    pagesize: PositiveInt = Field(
        DEFAULT_PAGESIZE, description="rows per portal answer page (astroquery's default)"
    )
    batch_size: PositiveInt = Field(500, description="obsids per Mast.Caom.Products call")
    max_polls: PositiveInt = Field(
        60, description="re-POSTs of an EXECUTING portal request before giving up on it"
    )
    replica: Replica = Field(
        "origin",
        description="where file bodies come from: origin (MAST Download/file) or cloud (MAST's "
        "public AWS bucket s3://stpubdata, read anonymously; MAST's md5 still verified)",
    )

    @field_validator("product_type", "subgroups")
    @classmethod
    def _upper(cls, value: list[str]) -> list[str]:
        # MAST writes both in upper case (SCIENCE, X1D); 'all' stays a keyword.
        return [ALL] if _is_all(value) else [v.upper() for v in value]

    @field_validator("calib_level", check_fields=False)
    @classmethod
    def _levels(cls, value: list[str]) -> list[str]:
        if not _is_all(value) and not all(v.lstrip("-").isdigit() for v in value):
            raise ValueError(f"must be integers (or 'all'), got {','.join(value)!r}")
        return value

    @field_validator(*CONTINUOUS_ARGS, check_fields=False)
    @classmethod
    def _min_max(cls, value: list[str]) -> list[str]:
        if value and not _is_min_max(value):
            raise ValueError(f"must be 'min,max' numbers, got {','.join(value)!r}")
        return value


def _column_fields() -> dict[str, Any]:
    """One declared argument per filterable CAOM column and alias (``-a <column>=values``)."""
    fields: dict[str, Any] = {}
    for arg in COLUMN_ARGS:
        column = COLUMNS[ALIASES.get(arg, arg)]
        what = "min,max" if column.continuous else "comma-separated values, * wildcard"
        text = f"observation filter on CAOM {column.name}: {what}"
        if arg in ALIASES:
            text += f" (alias of {column.name})"
        default = list(DEFAULT_CRITERIA.get(arg, ()))
        if default:
            text += f"; default {','.join(default)}, 'all' for no filter"
        fields[arg] = (CommaList, Field(default=default, description=text))
    return fields


#: The declared arguments: :class:`_JwstMastOptions` plus one field per CAOM column/alias.
JwstMastParams = create_model(
    "JwstMastParams",
    __base__=_JwstMastOptions,
    __module__=__name__,
    __doc__="Arguments of jwst_mast: observation filters (CAOM columns), product filters.",
    **_column_fields(),
)


def observation_criteria(args: Any, collection: str) -> dict[str, list[str]]:
    """Column -> values of the observation filters: for each column, the values given to it or
    to its alias (which replace the default), else the mission's default; ``all`` drops it."""
    criteria: dict[str, list[str]] = {"obs_collection": [collection]}
    for column in COLUMNS.values():
        names = [a for a in COLUMN_ARGS if ALIASES.get(a, a) == column.name]
        if not names:
            continue
        given = [n for n in names if n in args.model_fields_set]
        values = [v for n in (given or names) for v in getattr(args, n)]
        if not values or _is_all(values):
            continue
        if column.name == "instrument_name":
            # A bare instrument matches all its modes (see the module docstring).
            values = [v if "/" in v or is_wildcard(v) else f"{v}%" for v in values]
        criteria[column.name] = values
    return criteria


class JwstMastSpider(CaptureSpider, Args[JwstMastParams]):  # type: ignore[valid-type]
    #: The parsed arguments (statically their declared part; the CAOM column fields are
    #: added at run time and read by name).
    args: _JwstMastOptions
    name = "jwst_mast"
    domain = "spectroscopy"
    publisher = {
        "name": "Mikulski Archive for Space Telescopes (STScI)",
        "url": "https://mast.stsci.edu/",
    }
    formats = ("fits",)
    scope = (
        "public calibrated JWST spectra and time series of NIRSpec, NIRISS, MIRI and NIRCam "
        "(dataproduct_type spectrum/timeseries/cube, calib_level 2-3): SCIENCE products "
        "X1D, X1DINTS, C1D, S3D, CALINTS, md5-verified"
    )
    default_base_url = "https://mast.stsci.edu"
    # MAST's public AWS bucket (astroquery's CloudAccess.pubdata_bucket).
    cloud_bucket = "stpubdata"
    #: The same bucket as a replica (CAPTURE_REPLICAS=cloud): products keep MAST as their
    #: origin and fail over to their stpubdata key, found by MAST's path lookup.
    mirrors = {"cloud": "s3://stpubdata/"}
    collection = "JWST"
    credentials = {"env": "MAST_API_TOKEN", "header": "Authorization", "template": "token {}"}
    # MAST publishes no number, only "data volume and rate limits imposed by the Portal"
    # (MAST's curl-download documentation); astroquery and MAST's curl scripts fetch one file at a
    # time. A few parallel transfers and at most 5 requests/s stay well inside that.
    rate_limit = 5.0
    custom_settings = {
        "CONCURRENT_REQUESTS_PER_DOMAIN": 4,
        "DOWNLOAD_DELAY": 0,
        # astroquery's MAST timeout (conf.timeout = 600 s): portal queries can be slow.
        "DOWNLOAD_TIMEOUT": 600,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        if "obs_collection" in kwargs:
            raise SpiderArgumentError(
                f"{self.name}: obs_collection is fixed to {self.collection} for this spider"
            )
        super().__init__(*args, **kwargs)
        a = self.args
        self.criteria = observation_criteria(a, self.collection)
        self.queries = filter_sets(self.criteria)
        levels = self.criteria.get("calib_level")
        self.has_token = bool(secret_from_env(self.credentials["env"]))
        types = None if _is_all(a.product_type) else frozenset(a.product_type or ["SCIENCE"])
        self.products = ProductFilter(
            product_types=types,
            subgroups=None if _is_all(a.subgroups) else frozenset(a.subgroups) or None,
            calib_levels=frozenset(int(v) for v in levels) if levels else None,
            extensions=tuple(a.extension),
            mrp_only=a.mrp_only,
            public_only=not self.has_token,
        )
        self.verify_md5 = a.verify_md5
        self.pagesize = a.pagesize
        self.batch_size = a.batch_size
        self.max_polls = a.max_polls
        self._seen_obsids: set[str] = set()
        self._seen_uris: set[str] = set()
        # Paging state per query (PortalCall.cache_breaker), dropped when its paging ends.
        self._paging: dict[str, PageTracker] = {}

    # -- portal calls ----------------------------------------------------------------------
    def invoke(
        self,
        call: PortalCall,
        handler: str,
        context: dict[str, Any] | None = None,
        priority: int = 0,
    ) -> scrapy.Request:
        """An invoke POST; ``context`` (e.g. a batch's observation records) travels with the
        request and its polls and pages, so it survives a JOBDIR pause."""
        return scrapy.Request(
            f"{self.base_url}{INVOKE_PATH}",
            method="POST",
            body=call.body(),
            headers=INVOKE_HEADERS,
            callback=self.parse_invoke,
            errback=self.invoke_failed,
            cb_kwargs={"call": call, "handler": handler, "context": context or {}},
            dont_filter=True,  # EXECUTING polls re-POST the identical body
            priority=priority,
        )

    @property
    def max_pages(self) -> int:
        """Pages asked per query at most (``CAPTURE_MAST_MAX_PAGES``)."""
        return max(1, config_of(self.crawler).mast_max_pages)

    async def discover(self) -> AsyncIterator[Any]:
        for i, filters in enumerate(self.queries, 1):
            params = {"columns": "*", "filters": filters}
            label = f"query {i}/{len(self.queries)}"
            call = PortalCall(FILTERED, params, pagesize=self.pagesize, label=label)
            yield self.invoke(call, "observations")

    async def parse_invoke(
        self,
        response: scrapy.http.Response,
        call: PortalCall,
        handler: str,
        context: dict[str, Any],
    ) -> AsyncIterator[Any]:
        stats = self.crawler.stats
        try:
            answer = parse_answer(response.body)
        except MastAnswerError as exc:
            if call.malformed < MALFORMED_RETRIES:
                stats.inc_value(f"{self.archive}/portal/malformed_retried")
                self.logger.warning("%s: %s; asking again", call.name, exc)
                yield self.invoke(call.retry_malformed(), handler, context)
                return
            stats.inc_value(f"{self.archive}/portal/gave_up_malformed")
            self._paging.pop(call.cache_breaker, None)
            self.logger.error(
                "%s: %s (after %d attempts); giving up on it, the rest of the crawl goes on",
                call.name,
                exc,
                call.malformed + 1,
            )
            return
        if answer.status == "EXECUTING":
            if call.polls >= self.max_polls:
                stats.inc_value(f"{self.archive}/portal/gave_up_executing")
                self._paging.pop(call.cache_breaker, None)
                self.logger.error(
                    "%s: still EXECUTING after %d polls; giving up on it, the rest of the "
                    "crawl goes on (raise -a max_polls to wait longer)",
                    call.name,
                    call.polls,
                )
                return
            stats.inc_value(f"{self.archive}/portal/executing_polls")
            await self._pause(poll_delay(call.polls))
            yield self.invoke(call.poll(), handler, context)
            return
        if answer.status != "COMPLETE":
            stats.inc_value(f"{self.archive}/portal/error_status")
            self._paging.pop(call.cache_breaker, None)
            self.logger.error("%s: MAST answered %s: %s", call.name, answer.status, answer.msg)
            return
        rows, stop = self.next_page(call, answer)
        if stop is None:
            # The work this page brings (product lists, viz, files) is queued ahead of the next
            # page, so what waits in the scheduler stays about one page, whatever the count.
            yield self.invoke(call.at_page(call.page + 1), handler, context, priority=-1)
        answer.rows = rows
        if handler == "observations":
            for request in self.on_observations(call, answer):
                yield request
        else:
            for output in self.on_products(answer, context.get("observations", {})):
                yield output

    def next_page(
        self, call: PortalCall, answer: PortalAnswer
    ) -> tuple[list[dict[str, Any]], PageStop | None]:
        """This page's new rows, and why paging of its query stops (``None``: go on)."""
        tracker = self._paging.get(call.cache_breaker)
        if tracker is None:
            tracker = PageTracker(call.service, max_pages=self.max_pages)
            self._paging[call.cache_breaker] = tracker
        rows, stop = tracker.take(call.page, answer)
        if stop is not None:
            del self._paging[call.cache_breaker]
            if stop.reason != "end":
                self.paging_stopped(call, answer, tracker, stop)
        return rows, stop

    def paging_stopped(
        self, call: PortalCall, answer: PortalAnswer, tracker: PageTracker, stop: PageStop
    ) -> None:
        """One WARNING and a stat for a query whose pages did not end as claimed; a truncated
        listing (crawl ``partial``) when claimed rows may be missing."""
        stats = self.crawler.stats
        stats.inc_value(f"{self.archive}/paging/{stop.reason}")
        why = {
            "empty_page": "came back empty",
            "repeated_page": "repeats an earlier page of this query (same rows)",
            "no_new_rows": "has no row that an earlier page of this query did not have",
            "cap_reached": f"is the last one asked: CAPTURE_MAST_MAX_PAGES={self.max_pages}",
        }[stop.reason]
        claimed = f"{answer.pages} page(s)"
        if answer.rows_filtered is not None:
            claimed += f", {answer.rows_filtered} row(s)"
        outcome = (
            "this listing is incomplete" if stop.truncated else "all claimed rows were received"
        )
        self.logger.warning(
            "%s %s; paging stopped after %d distinct row(s) (MAST claims %s): %s",
            call.name,
            why,
            tracker.rows,
            claimed,
            outcome,
        )
        if stop.truncated:
            stats.inc_value(f"{self.archive}/listing_truncated")

    def invoke_failed(self, failure: Any) -> None:
        call = failure.request.cb_kwargs["call"]
        self._paging.pop(call.cache_breaker, None)
        self.crawler.stats.inc_value(f"{self.archive}/listing_failed")
        self.logger.error(
            "%s failed: %s; giving up on it, the rest of the crawl goes on",
            call.name,
            failure.getErrorMessage(),
        )

    async def _pause(self, seconds: float) -> None:
        scale = config_of(self.crawler).backoff_time_scale
        if seconds * scale > 0:
            from twisted.internet import reactor

            await maybe_deferred_to_future(task.deferLater(reactor, seconds * scale))

    # -- observations -> product lists -----------------------------------------------------
    def on_observations(self, call: PortalCall, answer: PortalAnswer) -> Iterator[Any]:
        stats = self.crawler.stats
        new: dict[str, dict[str, Any]] = {}
        for row in answer.rows:
            record = observation_record(row)
            obsid = record.get("obsid")
            if not obsid:
                stats.inc_value(f"{self.archive}/observations/no_obsid")
                continue
            if obsid in self._seen_obsids or obsid in new:
                stats.inc_value(f"{self.archive}/observations/duplicate")
                continue
            self._seen_obsids.add(obsid)
            new[obsid] = record
        stats.inc_value(f"{self.archive}/observations", len(new))
        self.logger.info("%s: %d observation(s), %d new", call.name, len(answer.rows), len(new))
        for ids in batches(list(new), self.batch_size):
            label = f"obsid {ids[0]}" + (f" (+{len(ids) - 1})" if len(ids) > 1 else "")
            call = PortalCall(
                PRODUCTS, {"obsid": ",".join(ids)}, pagesize=self.pagesize, label=label
            )
            yield self.invoke(call, "products", {"observations": {i: new[i] for i in ids}})

    def on_products(
        self, answer: PortalAnswer, observations: dict[str, dict[str, Any]]
    ) -> Iterator[Any]:
        stats = self.crawler.stats
        cloud: list[CapturedFile] = []
        for row in answer.rows:
            stats.inc_value(f"{self.archive}/products/rows")
            reason = self.products.skip_reason(row)
            if reason:
                stats.inc_value(f"{self.archive}/products/skipped/{reason}")
                continue
            uri = row["dataURI"]
            if uri in self._seen_uris:
                stats.inc_value(f"{self.archive}/products/duplicate_uri")
                continue
            self._seen_uris.add(uri)
            item = self.file_item(row, observations)
            if item is None:
                continue
            stats.inc_value(f"{self.archive}/files")
            if self.replica == "cloud" or self.cloud_replica:
                cloud.append(item)
            else:
                yield self.checksum_request(item)
        for chunk in batches(cloud, PATH_LOOKUP_BATCH):
            yield self.path_lookup(chunk)

    def checksum_request(self, item: CapturedFile) -> Any:
        """The viz request for the file's md5 and size, or the item itself without them."""
        uri = item.metadata.get("dataURI") or ""
        if self.verify_md5 and uri.startswith(f"mast:{self.collection}/"):
            return scrapy.Request(
                viz_keywords_url(self.base_url, uri),
                callback=self.parse_viz,
                errback=self.viz_failed,
                cb_kwargs={"item": item},
                dont_filter=True,
            )
        return self.without_md5(item, None)

    # -- the open cloud replica (-a replica=cloud) -----------------------------------------
    @property
    def cloud_replica(self) -> bool:
        """CAPTURE_REPLICAS names the bucket: products need their stpubdata keys."""
        return any(r.name == "cloud" for r in self.replicas)

    def replica_path(self, item: CapturedFile, replica: Mirror) -> str | None:
        """A product's stpubdata key (MAST's path lookup) under the ``cloud`` replica."""
        if replica.name == "cloud":
            key = (item.metadata.get("replica") or {}).get("cloud_key")
            return str(key) if key else None
        return super().replica_path(item, replica)

    def path_lookup(self, items: list[CapturedFile]) -> scrapy.Request:
        """MAST's path lookup for up to 50 products, as astroquery's ``mast_relative_path``."""
        uris = [str(i.metadata.get("dataURI")) for i in items]
        return scrapy.Request(
            path_lookup_url(self.base_url, uris),
            callback=self.parse_path_lookup,
            errback=self.path_lookup_failed,
            cb_kwargs={"items": items},
            dont_filter=True,
        )

    def parse_path_lookup(
        self, response: scrapy.http.Response, items: list[CapturedFile]
    ) -> Iterator[Any]:
        stats = self.crawler.stats
        try:
            answer = json.loads(response.body)
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            stats.inc_value(f"{self.archive}/cloud/lookup_malformed")
            self.logger.warning("MAST path_lookup answered no JSON object; using MAST for these")
            answer = {}
        for item in items:
            uri = str(item.metadata.get("dataURI"))
            entry = answer.get(uri)
            key = cloud_key(entry.get("path") if isinstance(entry, dict) else None)
            if key is None:
                stats.inc_value(f"{self.archive}/cloud/not_in_cloud")
                self.logger.info("%s has no cloud copy (path_lookup); fetched from MAST", uri)
            else:
                item.metadata["replica"] = {"origin": item.url, "cloud_key": key}
                if self.replica == "cloud":
                    item.url = self.cloud_url(key)
                else:  # one replica among MAST and others (CAPTURE_REPLICAS)
                    self.attach_replicas(item)
                stats.inc_value(f"{self.archive}/cloud/mapped")
            yield self.checksum_request(item)

    def path_lookup_failed(self, failure: Any) -> Iterator[Any]:
        items: list[CapturedFile] = failure.request.cb_kwargs["items"]
        self.crawler.stats.inc_value(f"{self.archive}/cloud/lookup_failed")
        self.logger.warning(
            "MAST path_lookup failed (%s); %d file(s) fetched from MAST instead",
            failure.getErrorMessage(),
            len(items),
        )
        for item in items:
            yield self.checksum_request(item)

    def file_item(
        self, row: dict[str, Any], observations: dict[str, dict[str, Any]]
    ) -> CapturedFile | None:
        uri = row["dataURI"]
        try:
            path = archive_path_for(uri)
        except ValueError as exc:
            self.crawler.stats.inc_value(f"{self.archive}/products/skipped/bad_uri")
            self.logger.warning("Skipping product: %s", exc)
            return None
        observation = observations.get(str(row.get("obsID"))) or observations.get(
            str(row.get("parent_obsid"))
        )
        metadata = product_metadata(row, observation)
        return self.new_file(
            download_url(self.base_url, uri),
            path,
            metadata=metadata,
            citation=program_citation(metadata),
        )

    # -- md5 from the JWST metadata API ----------------------------------------------------
    def parse_viz(self, response: scrapy.http.Response, item: CapturedFile) -> Iterator[Any]:
        facts = parse_viz_keywords(response.body)
        if facts.md5 is None:
            yield self.without_md5(item, facts.problem or "no_md5")
            return
        item.expect_digest("md5", facts.md5, VIZ_SOURCE)
        item.expected_size = facts.size
        item.metadata.update(facts.extra)
        if facts.size is not None:
            item.metadata["fileSize"] = facts.size
        self.crawler.stats.inc_value(f"{self.archive}/viz/md5")
        yield item

    def viz_failed(self, failure: Any) -> Iterator[Any]:
        status = getattr(getattr(failure.value, "response", None), "status", None)
        if status is None:
            self.logger.warning("viz keywords/search failed: %s", failure.getErrorMessage())
        why = f"http_{status}" if status else "request_failed"
        yield self.without_md5(failure.request.cb_kwargs["item"], why)

    def without_md5(self, item: CapturedFile, why: str | None) -> CapturedFile:
        """Capture with the product-list size as the (strict) expected size."""
        listed = item.metadata.get("size")
        item.expected_size = listed if isinstance(listed, int) and listed >= 0 else None
        if why:
            self.crawler.stats.inc_value(f"{self.archive}/viz/{why}")
            self.logger.warning(
                "No md5 for %s from viz keywords/search (%s): checking the product-list size only",
                item.archive_path,
                why,
            )
        return item

    # -- inspection of a verified file (IO thread) -----------------------------------------
    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        listed = item.metadata.get("size")
        actual = os.path.getsize(path)
        if isinstance(listed, int):
            found["size_listed_matches"] = listed == actual
            if listed != actual:
                self.logger.warning(
                    "%s: product list says %d bytes, the md5-verified file has %d",
                    item.archive_path,
                    listed,
                    actual,
                )
        if item.archive_path.endswith(".fits"):
            try:
                found["fits"] = fits_primary_keywords(path)
            except InspectionProblem as problem:
                if not item.checksum.get("verified"):
                    raise
                # MAST's own md5 vouches for these bytes: note it, do not quarantine.
                found["fits_problem"] = str(problem)
        return found


def fits_primary_keywords(path: str, max_blocks: int = 100) -> dict[str, Any]:
    """A few primary-header keywords; raises InspectionProblem if it is not FITS at all."""
    try:
        values = primary_header(path, max_blocks).values()
    except NotFits as exc:
        raise InspectionProblem(str(exc)) from None
    return {key: values[key] for key in FITS_KEYWORDS if values.get(key) is not None}
