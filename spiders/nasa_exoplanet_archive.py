"""NASA Exoplanet Archive: whole TAP tables as files, plus the spectra files the tables list.

Protocol (https://exoplanetarchive.ipac.caltech.edu/docs/TAP/usingTAP.html; the archive's TAP
server is Caltech-IPAC/nexsciTAP):

* A table is captured with one synchronous query,
  ``GET /TAP/sync?query=select+*+from+<table>&format=<csv|tsv|votable>``, encoded the way real
  clients send it (spaces as ``+``, ``*`` and ``,`` literal: ropensci/exoplanets
  ``R/exoplanets.R``, recorded in ``shared/samples/nasa_exoplanet_archive/SOURCE.md``). The
  result streams back whole; there is no paging, size, digest or Range for query results.
* Before it, ``select count(*) from <table>`` (CSV) asks the archive how many rows the table
  has. The file's own row count is verified against it in :meth:`inspect_file`; a mismatch
  (e.g. a result cut short at a line boundary) quarantines the file with both numbers.
* Errors come back with HTTP 200 in the body (nexsciTAP ``TAP/tap.py`` ``__printError__``): a
  VOTable with ``QUERY_STATUS=ERROR`` for votable, a JSON ``{"status": "error"}`` otherwise. The
  IVOA TAP 1.1 rule (errors are VOTables) is accepted too; either way the file is quarantined
  with the archive's message, never stored as good. See :mod:`capture.formats.tap_results` for the
  quoting rules (char values ``"..."`` with no escaping, numbers bare, NULL empty).
* VOTable layout (UNCONFIRMED against a recorded body; taken from nexsciTAP's writer
  ``TAP/writerecsmodule.c``): VOTable 1.3, ``RESOURCE type="results"``, ``INFO QUERY_STATUS``,
  ``FIELD`` per column, ``TABLEDATA`` rows. Read with astropy's VOTable tokenizer, streamed.

Products (``-a products=spectra``): the ``spectra`` table (Atmospheric Spectroscopy) lists one
IPAC ``.tbl`` file per spectrum in its ``spec_path`` column ("File Path", e.g.
``56/12/36/06/Kepler_20_c_3.101_3665_1.tbl``; column list: archive page
docs/atmospheres/atmospheres_columns.html and the TAP schema as mirrored by third-party code).
The files are served under a session workspace,
``/workspace/<TMP token>/atmospheres/tab1/data/<spec_path>``, whose token is read from the
table's Firefly page ``/cgi-bin/atmospheres/nph-firefly?atmospheres``
(``FF_InitPage('/work/<token>/atmospheres/tab1', ...)``). That URL scheme is UNCONFIRMED by the
archive: it is reverse-engineered by third-party code (a public ``download_spectra.py``); if the
page changes, the spider reports it and captures the tables anyway. Files keep a stable
``archive_path`` (``spectra/<spec_path>``) while the token in their URL changes per run, so
unfinished product files are re-listed (with a fresh token), not re-driven with a stale URL.
Time-series tables (``kelttimeseries``, ``superwasptimeseries``, ``ukirttimeseries``) carry no
file path column: their light-curve paths are "not derivable from the source id" and only the
archive's bulk wget scripts map them (third-party KELT client), so they are refused as products
with that explanation; their tables can still be captured with ``-a tables=``.

Default (``scrapy crawl nasa_exoplanet_archive``): the mission's "orbital elements, stellar
properties, atmospheric data (5,926+ confirmed planets)", as CSV:

* ``ps`` (Planetary Systems: every confirmed planet's orbital and physical parameters, one row
  per planet per reference) and ``pscomppars`` (one composite row per confirmed planet): the
  orbital elements;
* ``stellarhosts`` (the host stars' parameters, per reference): the stellar properties;
* ``spectra`` (the Atmospheric Spectroscopy table) and, with ``products=spectra``, every
  spectrum file it lists: the atmospheric data (transmission, eclipse and direct-imaging
  spectra of confirmed planets). The table is captured as a file of its own (its columns are
  the spectra's provenance) and read once more as the private listing of the files.

Each table is ``select count(*) from <t>`` then ``select * from <t>``, e.g.
``GET /TAP/sync?query=select+*+from+ps&format=csv``; the spectra files come from
``/cgi-bin/atmospheres/nph-firefly?atmospheres`` and ``/workspace/<token>/atmospheres/tab1/
data/<spec_path>``. Left out by default: ``toi`` (TESS candidates, not confirmed planets),
the Kepler/K2 candidate and name tables, ``ml`` and the time-series tables (light curves are
not orbital, stellar or atmospheric parameters); each can be asked for with ``-a tables=``.

Arguments:
  ``-a tables=ps,pscomppars,stellarhosts,spectra`` (default), ``-a format=csv|tsv|votable``
  (default csv), ``-a products=spectra`` (default; ``-a products=`` or ``none`` for tables
  only), ``-a base_url=...``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import quote_plus

import scrapy
from pydantic import BeforeValidator, Field, field_validator
from scrapy_spider_metadata import Args

from capture import citation
from capture.config import config_of
from capture.formats import read_head
from capture.formats.tap_results import (
    TableProblem,
    TableSummary,
    error_in,
    parse_count,
    read_rows,
    summarize_delimited,
    summarize_ipac,
    summarize_votable,
)
from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from spiders.base import CaptureParams, CaptureSpider
from spiders.params import CommaList

#: The mission's core tables (module docstring).
DEFAULT_TABLES = ("ps", "pscomppars", "stellarhosts", "spectra")
DEFAULT_PRODUCTS = ("spectra",)
# format argument -> (file extension, item format)
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("csv", "csv"),
    "tsv": ("tsv", "tsv"),
    "votable": ("vot", "votable"),
}
TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)?$")
TIME_SERIES = ("kelttimeseries", "superwasptimeseries", "ukirttimeseries", "keplertimeseries")
PRODUCTS = ("spectra",)
FIREFLY_PAGE = "cgi-bin/atmospheres/nph-firefly?atmospheres"
FF_INIT = re.compile(r"FF_InitPage\s*\(\s*['\"](/work/[^'\"]+)['\"]")
TOKEN = re.compile(r"^[A-Za-z0-9_.-]+$")
SPEC_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+ ()/-]*$")
# Columns of the spectra table kept as searchable metadata of each spectrum file.
SPECTRUM_FIELDS = (
    "pl_name",
    "spec_type",
    "bibcode",
    "authors",
    "instrument",
    "facility",
    "num_datapoints",
    "minwavelng",
    "maxwavelng",
    "mintranmid",
    "maxtranmid",
    "note",
)


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


#: The archive's requested acknowledgement, verbatim (docs/acknowledge.html).
ACKNOWLEDGEMENT = (
    "This research has made use of the NASA Exoplanet Archive, which is operated by the "
    "California Institute of Technology, under contract with the National Aeronautics and Space "
    "Administration under the Exoplanet Exploration Program."
)
#: Table DOIs the archive publishes ("Citing the NASA Exoplanet Archive With Digital Object
#: Identifiers", docs/doi.html: Planetary Systems Table = 10.26133/NEA12, Planetary Systems
#: Composite Parameters Table = 10.26133/NEA13). Tables not listed (stellarhosts, spectra)
#: get the acknowledgement only: their DOIs were not confirmed, so none is given.
TABLE_CITATIONS: dict[str, tuple[str, str]] = {
    "ps": ("10.26133/NEA12", "Planetary Systems Table"),
    "pscomppars": ("10.26133/NEA13", "Planetary Systems Composite Parameters Table"),
}
NEA = "NASA Exoplanet Archive"


def table_citation(table: str) -> dict[str, Any]:
    """The dataset citation the archive publishes for a table (its DOI where it has one)."""
    doi, title = TABLE_CITATIONS.get(table.lower(), (None, f"{table} table"))
    return citation.make(
        doi=doi,
        kind="dataset",
        title=title,
        publisher=NEA,
        url="https://exoplanetarchive.ipac.caltech.edu/",
        identifiers=[{"type": "TAP table", "value": table}],
        text=ACKNOWLEDGEMENT,
        source="exoplanetarchive.ipac.caltech.edu docs/doi.html (table DOIs) and "
        "docs/acknowledge.html (acknowledgement text)",
    )


class NasaExoplanetArchiveParams(CaptureParams):
    tables: CommaList = Field(
        default=list(DEFAULT_TABLES),
        description="TAP tables to capture whole (e.g. ps, pscomppars, stellarhosts, spectra, "
        "toi, k2pandc, cumulative)",
    )
    format: Annotated[Literal["csv", "tsv", "votable"], BeforeValidator(_lower)] = Field(
        "csv", description="TAP output format of the table files"
    )
    products: CommaList = Field(
        default=list(DEFAULT_PRODUCTS),
        description="files listed by tables to capture too: spectra (the .tbl spectrum files "
        "of the spectra table); empty or 'none' for tables only",
    )

    @field_validator("tables")
    @classmethod
    def _tables(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one table")
        for table in value:
            if not TABLE_NAME.match(table):
                raise ValueError(f"not a table name: {table!r}")
        return value

    @field_validator("products")
    @classmethod
    def _products(cls, value: list[str]) -> list[str]:
        value = [p.lower() for p in value if p.lower() != "none"]
        for product in value:
            if product in TIME_SERIES:
                raise ValueError(
                    f"{product}: the archive's TAP table has no file path column for its light "
                    "curves (they are mapped only by its bulk wget scripts); capture the table "
                    f"itself with -a tables={product}"
                )
            if product not in PRODUCTS:
                raise ValueError(f"must be among {', '.join(PRODUCTS)}, got {product!r}")
        return value


#: Rows fetched (dry runs only) to estimate a table's width.
SIZE_SAMPLE_ROWS = 20


def size_estimate(sample: bytes, rows: int) -> int | None:
    """Bytes of a whole CSV/TSV table: its header line plus ``rows`` times the mean width of
    the sample's rows (None when the sample has no data row)."""
    lines = sample.splitlines(keepends=True)
    if len(lines) < 2:
        return None
    header, body = lines[0], lines[1:]
    return len(header) + round(rows * sum(map(len, body)) / len(body))


class NasaExoplanetArchiveSpider(CaptureSpider, Args[NasaExoplanetArchiveParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: NasaExoplanetArchiveParams
    name = "nasa_exoplanet_archive"
    domain = "astronomy"
    publisher = {
        "name": "NASA Exoplanet Archive (NExScI/IPAC, Caltech)",
        "url": "https://exoplanetarchive.ipac.caltech.edu/",
    }
    formats = ("csv", "tsv", "votable", "ipac")
    scope = (
        "whole TAP tables ps, pscomppars, stellarhosts and spectra as CSV (confirmed planets' "
        "orbital elements, host-star properties, atmospheric spectra index) and every "
        "atmospheric spectrum file (.tbl) the spectra table lists"
    )
    default_base_url = "https://exoplanetarchive.ipac.caltech.edu"
    # The archive publishes no rate limit (none found); whole-table queries are
    # heavy for its database, so stay at two concurrent requests and at most 4 per second.
    rate_limit: ClassVar[float] = 4.0
    custom_settings = {
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DOWNLOAD_DELAY": 0,
        # nexsciTAP writes the whole result to disk before sending the first byte
        # (TAP/tap.py __printSyncResult__), so headers of a big table can take minutes.
        "DOWNLOAD_TIMEOUT": 900,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.tables = list(self.args.tables)
        self.format = self.args.format
        self.products = list(self.args.products)

    # -- URLs ------------------------------------------------------------------------------
    def tap_url(self, adql: str, fmt: str) -> str:
        """``/TAP/sync`` URL encoded as the archive's clients send it (``select+*+from+ps``)."""
        return f"{self.base_url}/TAP/sync?query={quote_plus(adql, safe=',*()')}&format={fmt}"

    # -- discovery -------------------------------------------------------------------------
    async def discover(self) -> AsyncIterator[Any]:
        for table in self.tables:
            yield scrapy.Request(
                self.tap_url(f"select count(*) from {table}", "csv"),
                callback=self.parse_count,
                errback=self.count_failed,
                cb_kwargs={"table": table},
                dont_filter=True,
            )
        if "spectra" in self.products:
            yield scrapy.Request(
                f"{self.base_url}/{FIREFLY_PAGE}",
                callback=self.parse_firefly_page,
                errback=self.listing_failed,
                dont_filter=True,
            )

    def parse_count(self, response: Any, table: str) -> Any:
        count = parse_count(response.body)
        if count is None:
            self.crawler.stats.inc_value(f"{self.archive}/count_unreadable")
            self.logger.warning(
                "count(*) of %s gave no number (%s); capturing without it",
                table,
                error_in(response.body[:4096]) or repr(response.body[:200]),
            )
        elif config_of(self.crawler).dry_run and self.format in ("csv", "tsv"):
            # A dry run plans the table's size as its row count times the width of a sample
            # of rows (TAP answers carry no Content-Length before the query runs).
            return scrapy.Request(
                self.tap_url(f"select top {SIZE_SAMPLE_ROWS} * from {table}", self.format),
                callback=self.parse_size_sample,
                errback=self.size_sample_failed,
                cb_kwargs={"table": table, "count": count},
                dont_filter=True,
            )
        return self.table_item(table, count)

    def size_sample_failed(self, failure: Any) -> CapturedFile:
        kwargs = failure.request.cb_kwargs
        return self.table_item(kwargs["table"], kwargs["count"])

    def parse_size_sample(self, response: Any, table: str, count: int) -> CapturedFile:
        item = self.table_item(table, count)
        estimate = size_estimate(response.body, count)
        if estimate is not None:
            item.metadata["size_estimate"] = estimate
        return item

    def count_failed(self, failure: Any) -> CapturedFile:
        table = failure.request.cb_kwargs["table"]
        self.crawler.stats.inc_value(f"{self.archive}/count_failed")
        self.logger.warning(
            "count(*) of %s failed (%s); capturing without it", table, failure.getErrorMessage()
        )
        return self.table_item(table, None)

    def table_item(self, table: str, reported: int | None) -> CapturedFile:
        ext, fmt = FORMATS[self.format]
        adql = f"select * from {table}"
        self.crawler.stats.inc_value(f"{self.archive}/tables")
        return self.new_file(
            self.tap_url(adql, self.format),
            f"TAP/sync/{table}.{ext}",
            format=fmt,
            citation=table_citation(table),
            metadata={
                "kind": "table",
                "table": table,
                "query": adql,
                "reported_row_count": reported,
            },
        )

    # -- products: spectra -----------------------------------------------------------------
    def parse_firefly_page(self, response: Any) -> Any:
        match = FF_INIT.search(response.text)
        parts = match.group(1).split("/") if match else []
        token = parts[2] if len(parts) > 2 else ""
        if not TOKEN.match(token):
            self.crawler.stats.inc_value(f"{self.archive}/spectra/no_workspace")
            self.logger.error(
                "No workspace token in %s (FF_InitPage not found); spectra files not captured",
                response.url,
            )
            return None
        return self.listing_request(
            self.tap_url("select * from spectra", "csv"),
            "spectra.csv",
            self.parse_spectra,
            cb_kwargs={"token": token},
        )

    async def parse_spectra(self, response: Any, token: str) -> AsyncIterator[CapturedFile]:
        path = self.streamed_path(response)
        head = await self.ctx.io.run(read_head, path)
        error = error_in(head)
        if error is not None:
            self.crawler.stats.inc_value(f"{self.archive}/spectra/listing_error")
            self.logger.error("spectra listing failed: %s", error)
            return
        try:
            rows = await self.ctx.io.run(lambda: list(read_rows(path)))
        except TableProblem as problem:
            self.logger.error("spectra listing unreadable: %s", problem)
            return
        stats = self.crawler.stats
        for row in rows:
            spec_path = (row.get("spec_path") or "").strip().strip("/")
            if not spec_path or not SPEC_PATH.match(spec_path) or ".." in spec_path.split("/"):
                stats.inc_value(f"{self.archive}/spectra/bad_spec_path")
                self.logger.warning("spectra row without a usable spec_path: %r", spec_path)
                continue
            metadata: dict[str, Any] = {"kind": "spectrum", "spec_path": spec_path}
            metadata.update({k: row[k] for k in SPECTRUM_FIELDS if row.get(k)})
            stats.inc_value(f"{self.archive}/spectra/files")
            yield self.new_file(
                self.archive_url(f"workspace/{token}/atmospheres/tab1/data/{spec_path}"),
                f"spectra/{spec_path}",
                format="ipac",
                metadata=metadata,
                citation=table_citation("spectra"),
            )

    def _item_from_catalog(self, data: dict[str, Any]) -> CapturedFile | None:
        # A spectrum's URL holds a session token that is stale by now; it is re-listed.
        if "/workspace/" in (data.get("url") or ""):
            return None
        return super()._item_from_catalog(data)

    # -- verification ----------------------------------------------------------------------
    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any]:
        kind = item.metadata.get("kind")
        if kind == "spectrum":
            return self._inspect_spectrum(item, path)
        if kind != "table":
            return {}
        try:
            if item.format == "votable":
                summary = summarize_votable(path)
            else:
                summary = summarize_delimited(path, "\t" if item.format == "tsv" else ",")
        except TableProblem as problem:
            raise InspectionProblem(*problem.reasons) from None
        found = describe(summary)
        reported = item.metadata.get("reported_row_count")
        if reported is not None and reported != summary.row_count:
            raise InspectionProblem(
                f"row count mismatch: the archive reports {reported} rows "
                f"(select count(*) from {item.metadata.get('table')}), the file holds "
                f"{summary.row_count}",
                metadata=found,
            )
        return found

    def _inspect_spectrum(self, item: CapturedFile, path: str) -> dict[str, Any]:
        try:
            summary = summarize_ipac(path)
        except TableProblem as problem:
            raise InspectionProblem(
                *(f"spectrum {item.metadata.get('spec_path')}: {r}" for r in problem.reasons)
            ) from None
        found = describe(summary)
        found["keywords"] = summary.meta.get("keywords", {})
        listed = item.metadata.get("num_datapoints")
        if listed not in (None, ""):
            # Recorded, not enforced: whether num_datapoints counts limit rows is UNCONFIRMED.
            found["datapoints_match"] = str(summary.row_count) == str(listed).strip()
            if not found["datapoints_match"]:
                self.logger.warning(
                    "%s: spectra table lists %s data points, file has %d rows",
                    item.archive_path,
                    listed,
                    summary.row_count,
                )
        return found


def describe(summary: TableSummary) -> dict[str, Any]:
    return {
        "row_count": summary.row_count,
        "columns": summary.columns,
        "column_count": len(summary.columns),
    }
