"""MAST portal ("Mashup") and JWST metadata API answers: the invoke envelope, the viz
keywords of one file, and the catalog metadata of observation and product rows.

Pure functions, no Scrapy, so every rule is unit-testable; how to ask (request bodies, filters,
paging) is the spider's (:mod:`spiders.mast_portal`). Facts and their sources
(AQ = astropy/astroquery ``astroquery/mast``):

* An invoke answer is ``{"status": "COMPLETE"|"EXECUTING"|"ERROR", "msg", "data": [..],
  "fields": [..], "paging": {"page", "pageSize", "pagesFiltered", "rows", "rowsFiltered",
  "rowsTotal"}}`` (AQ ``PortalAPI._request``; sample ``caom_filtered.json``).
* ``GET /viz/api/v0.1/keywords/search?uri=<dataURI>`` answers the JWST file's ``fileSize`` and
  ``checksum`` (32 hex digits: md5) among all its FITS keywords (MAST docs "API for JWST
  Metadata"; sample ``jwst_viz_keywords_search_uri_x1d.json``). It is the only published
  digest for MAST files; the product list has none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MD5 = re.compile(r"^[0-9a-f]{32}$")


class MastAnswerError(ValueError):
    """An invoke answer that is not the JSON envelope MAST documents."""


# -- invoke answers -----------------------------------------------------------------------
@dataclass
class PortalAnswer:
    status: str
    msg: str
    rows: list[dict[str, Any]]
    page: int
    pages: int
    rows_filtered: int | None = None  # paging.rowsFiltered: rows the whole query claims


def parse_answer(body: bytes) -> PortalAnswer:
    """The invoke envelope; raises :class:`MastAnswerError` for anything else."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MastAnswerError(f"malformed JSON ({exc}; {len(body)} bytes)") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("status"), str):
        raise MastAnswerError("answer is not a MAST invoke envelope (no 'status')")
    status = doc["status"]
    rows = doc.get("data") or []
    if status == "COMPLETE" and not (
        isinstance(rows, list) and all(isinstance(r, dict) for r in rows)
    ):
        raise MastAnswerError("'data' is not a list of rows")
    paging = doc.get("paging")
    if not isinstance(paging, dict):
        paging = {}
    try:
        page = int(paging.get("page") or 1)
        pages = int(paging.get("pagesFiltered") or 1)
        claimed = paging.get("rowsFiltered")
        rows_filtered = None if claimed is None else int(claimed)
    except (TypeError, ValueError) as exc:
        raise MastAnswerError(f"bad 'paging' {paging!r}") from exc
    return PortalAnswer(status, str(doc.get("msg") or ""), rows, page, pages, rows_filtered)


# -- JWST viz keywords/search -------------------------------------------------------------
@dataclass
class VizFacts:
    md5: str | None = None
    size: int | None = None
    problem: str | None = None  # short stats key when no usable md5
    extra: dict[str, Any] = field(default_factory=dict)


VIZ_KEEP = ("ingestCompletionDate", "publicReleaseDate", "productLevel", "fileSetName")


def parse_viz_keywords(body: bytes) -> VizFacts:
    """md5 and size of one JWST file from its keywords/search answer, never raising."""
    if not body.strip():
        return VizFacts(problem="empty")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return VizFacts(problem="malformed_json")
    if isinstance(doc, list) and len(doc) == 1:
        doc = doc[0]  # tolerate a one-element list (answer shape for several uris UNCONFIRMED)
    if not isinstance(doc, dict):
        return VizFacts(problem="not_an_object")
    size = doc.get("fileSize")
    facts = VizFacts(
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        extra={k: doc[k] for k in VIZ_KEEP if doc.get(k) is not None},
    )
    checksum = doc.get("checksum")
    if checksum is None:
        facts.problem = "no_checksum"
    elif not (isinstance(checksum, str) and MD5.match(checksum.strip().lower())):
        facts.problem = "checksum_not_md5"
    else:
        facts.md5 = checksum.strip().lower()
    return facts


# -- metadata ------------------------------------------------------------------------------
OBSERVATION_FIELDS = (
    "obs_id",
    "obsid",
    "obs_collection",
    "instrument_name",
    "filters",
    "target_name",
    "target_classification",
    "proposal_id",
    "proposal_pi",
    "obs_title",
    "calib_level",
    "dataproduct_type",
    "intentType",
    "t_min",
    "t_max",
    "t_exptime",
    "t_obs_release",
    "em_min",
    "em_max",
    "s_ra",
    "s_dec",
    "wavelength_region",
    "dataRights",
)
PRODUCT_FIELDS = (
    "obsID",
    "parent_obsid",
    "obs_id",
    "dataURI",
    "productFilename",
    "productType",
    "productGroupDescription",
    "productSubGroupDescription",
    "description",
    "type",
    "dataproduct_type",
    "calib_level",
    "proposal_id",
    "project",
    "prvversion",
    "size",
    "dataRights",
    "exp_type",
)


def observation_record(row: dict[str, Any]) -> dict[str, Any]:
    record = {k: row[k] for k in OBSERVATION_FIELDS if row.get(k) is not None}
    if "obsid" in record:
        record["obsid"] = str(record["obsid"])
    return record


def product_metadata(row: dict[str, Any], observation: dict[str, Any] | None) -> dict[str, Any]:
    """Catalog metadata of one product: its observation's fields, then the product's own
    (a product's ``obs_id``/``calib_level``/``dataproduct_type`` describe the file itself)."""
    meta: dict[str, Any] = dict(observation or {})
    if "calib_level" in meta:
        meta["obs_calib_level"] = meta.pop("calib_level")
    for key in PRODUCT_FIELDS:
        if row.get(key) is not None:
            meta[key] = row[key]
    for key in ("obsID", "parent_obsid"):
        if key in meta:
            meta[key] = str(meta[key])
    return meta
