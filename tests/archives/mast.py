"""MAST emulator: the portal invoke API, the JWST metadata ("viz") API and Download/file.

Speaks the real protocol (:mod:`spiders.mast_portal` lists the facts and their sources):

* ``POST /api/v0/invoke`` takes the form field ``request`` (url-encoded JSON with
  ``service, params, format, pagesize, page, cacheBreaker``) and answers the real envelope
  ``{"status", "msg", "data", "fields", "paging"}``. ``Mast.Caom.Filtered`` applies the
  filters (exact ``values``, SQL-LIKE ``freeText`` with ``%``, continuous ``{min, max}``)
  to the observation set; ``Mast.Caom.Products`` returns the product rows of the comma-joined
  ``obsid`` list. Both page by ``pagesize``/``page``. Every decoded request is kept in
  ``invocations``. Answers may be ``EXECUTING`` a configurable number of times per distinct
  request (same body) before ``COMPLETE``, forever for chosen obsids, or malformed JSON.
* ``GET /viz/api/v0.1/keywords/search?uri=`` answers the file's keywords with ``fileSize`` and
  the md5 ``checksum`` (the real sample's shape when ``../shared/samples`` is present), or a
  chosen failure: a wrong md5, malformed JSON, an empty body, 404, no checksum field.
* ``GET /api/v0.1/path_lookup/?uri=A&uri=B`` maps each URI to its path in MAST's cloud bucket
  (``{"status_code": 200, "path": "/jwst/public/..."}``, or 404 and ``null`` for a product
  with no cloud copy), the shape of the recorded ``path_lookup.json``; the layout follows
  real ``stpubdata`` keys (:func:`jwst_cloud_path`). :mod:`tests.archives.s3` puts the
  products' bytes at those keys in moto.
* ``GET /api/v0.1/Download/file?uri=`` serves deterministic FITS-like files (Range, ETag...),
  per file without Content-Length, or as a 302 to a second server standing in for a CDN.

Field lists come from the real samples (``caom_filtered.json``, ``caom_products_hst.json``)
when present, else from the same lists written out here.
"""

from __future__ import annotations

import copy
import io
import json
import pathlib
import re
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

from tests.archives.content import Blob
from tests.archives.samples import samples_root
from tests.archives.server import ArchiveServer, Fault, Reply, Request

INVOKE = "/api/v0/invoke"
DOWNLOAD = "/api/v0.1/Download/file"
VIZ_KEYWORDS = "/viz/api/v0.1/keywords/search"
PATH_LOOKUP = "/api/v0.1/path_lookup/"
CDN_PREFIX = "/stpubdata/jwst/public/"
JSON_TYPE = "application/json"

_OBS_FIELDS = [
    ("dataproduct_type", "string"),
    ("calib_level", "int"),
    ("obs_collection", "string"),
    ("obs_id", "string"),
    ("target_name", "string"),
    ("s_ra", "float"),
    ("s_dec", "float"),
    ("t_min", "float"),
    ("t_max", "float"),
    ("t_exptime", "float"),
    ("wavelength_region", "string"),
    ("filters", "string"),
    ("em_min", "float"),
    ("em_max", "float"),
    ("target_classification", "string"),
    ("obs_title", "string"),
    ("t_obs_release", "float"),
    ("instrument_name", "string"),
    ("proposal_pi", "string"),
    ("proposal_id", "string"),
    ("project", "string"),
    ("s_region", "string"),
    ("jpegURL", "string"),
    ("dataURL", "string"),
    ("obsid", "string"),
    ("objID", "string"),
]
_PRODUCT_FIELDS = [
    ("obsID", "string"),
    ("obs_collection", "string"),
    ("dataproduct_type", "string"),
    ("obs_id", "string"),
    ("description", "string"),
    ("type", "string"),
    ("dataURI", "string"),
    ("productType", "string"),
    ("productGroupDescription", "string"),
    ("productSubGroupDescription", "string"),
    ("productDocumentationURL", "string"),
    ("project", "string"),
    ("prvversion", "string"),
    ("productFilename", "string"),
    ("size", "int"),
    ("_selected_", "boolean"),
]
# Columns JWST product rows carry beyond the HST sample's (MAST docs "API for JWST Metadata").
_JWST_PRODUCT_EXTRA = [
    ("parent_obsid", "string"),
    ("dataRights", "string"),
    ("calib_level", "int"),
    ("proposal_id", "string"),
]


def load_sample(name: str) -> bytes | None:
    """A recorded MAST answer from ``../shared/samples/mast``, or None where absent."""
    root = samples_root()
    path = root / "mast" / name if root else None
    return path.read_bytes() if path and path.exists() else None


def _fields(sample: str, fallback: list[tuple[str, str]]) -> list[dict[str, str]]:
    raw = load_sample(sample)
    if raw is not None:
        return json.loads(raw)["fields"]
    return [{"name": n, "type": t} for n, t in fallback]


def fits_blob(seed: str, size: int, **keywords: str) -> Blob:
    """A valid FITS file of about ``size`` bytes (rounded up to whole 2880-byte blocks, as every
    FITS file is), deterministic bytes as data, CHECKSUM/DATASUM written as the JWST pipeline
    writes them."""
    import numpy as np
    from astropy.io import fits

    blocks = max(2, -(-size // 2880))
    data = np.frombuffer(Blob(seed, (blocks - 1) * 2880).read(0, (blocks - 1) * 2880), np.uint8)
    hdu = fits.PrimaryHDU(data=data)
    for key, value in keywords.items():
        hdu.header[key] = value
    out = io.BytesIO()
    hdu.writeto(out, checksum=True)
    return Blob.of(out.getvalue(), seed=seed)


def jwst_cloud_path(filename: str) -> str:
    """The path MAST's path_lookup gives a JWST product, in the layouts seen in the real bucket:
    stage-3 products ``jw02727-o002_t062_..._i2d.fits`` under
    ``/jwst/public/jw02727/L3/t/o002/`` and stage-2 exposures ``jw02282010001_..._cal.fits``
    under ``/jwst/public/jw02282/jw02282010001/`` (public s3://stpubdata keys quoted by
    jdaviz's tests and users' notes)."""
    m = re.match(r"^jw(\d{5})-o(\d{3})_", filename)
    if m:
        return f"/jwst/public/jw{m.group(1)}/L3/t/o{m.group(2)}/{filename}"
    m = re.match(r"^jw(\d{5})(\d{6})_", filename)
    if m:
        return f"/jwst/public/jw{m.group(1)}/jw{m.group(1)}{m.group(2)}/{filename}"
    return f"/jwst/public/other/{filename}"


def uri_query(uri: str) -> str:
    return "uri=" + quote(uri, safe=":/")


def _like(pattern: str, value: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL) is not None


def row_matches(row: dict[str, Any], flt: dict[str, Any]) -> bool:
    value = row.get(flt["paramName"])
    values = flt.get("values") or []
    if values and isinstance(values[0], dict):
        return value is not None and any(v["min"] <= value <= v["max"] for v in values)
    parts = str(value).split(flt["separator"]) if flt.get("separator") else [str(value)]
    if any(p in {str(v) for v in values} for p in parts):
        return True
    free = flt.get("freeText")
    return bool(free) and any(_like(free, p) for p in parts)


@dataclass
class Product:
    row: dict[str, Any]
    blob: Blob
    viz: str = "ok"  # ok | wrong_md5 | malformed | empty | missing | no_checksum
    delivery: str = "direct"  # direct | no_length | redirect
    viz_body: bytes | None = None  # a recorded answer, served verbatim
    also_in: tuple[str, ...] = ()  # obsids of other observations listing the same file
    in_cloud: bool = True  # path_lookup knows a cloud path for it

    @property
    def cloud_key(self) -> str:
        return jwst_cloud_path(self.row["productFilename"]).lstrip("/")

    @property
    def uri(self) -> str:
        return self.row["dataURI"]


@dataclass
class MastArchive:
    server: ArchiveServer
    cdn: ArchiveServer | None = None
    observations: list[dict[str, Any]] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    # service -> EXECUTING answers before each distinct request (same body) completes
    executing: dict[str, int] = field(default_factory=dict)
    # Products calls naming one of these obsids stay EXECUTING forever
    stuck_obsids: set[str] = field(default_factory=set)
    # ("Mast.Caom.Filtered", page) or ("Mast.Caom.Products", obsid) -> malformed answers left
    malformed: dict[tuple[str, Any], int] = field(default_factory=dict)
    invocations: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: Counter[tuple[str, str, int]] = Counter()
        self.obs_fields = _fields("caom_filtered.json", _OBS_FIELDS)
        product_fields = _fields("caom_products_hst.json", _PRODUCT_FIELDS)
        names = {f["name"] for f in product_fields}
        self.product_fields = product_fields + [
            {"name": n, "type": t} for n, t in _JWST_PRODUCT_EXTRA if n not in names
        ]
        template = load_sample("jwst_viz_keywords_search_uri_x1d.json")
        self.viz_template: dict[str, Any] = json.loads(template) if template else {}

    # -- corpus ----------------------------------------------------------------------------
    def add_observation(self, obsid: str, obs_id: str, **row: Any) -> dict[str, Any]:
        record = {
            "dataproduct_type": "spectrum",
            "calib_level": 3,
            "obs_collection": "JWST",
            "obs_id": obs_id,
            "target_name": "WASP-39",
            "s_ra": 217.3266477,
            "s_dec": -3.4444994,
            "t_min": 59791.1,
            "t_max": 59791.5,
            "t_exptime": 29000.0,
            "wavelength_region": "INFRARED",
            "filters": "CLEAR;PRISM",
            "em_min": 600.0,
            "em_max": 5300.0,
            "target_classification": "Star; Exoplanet",
            "obs_title": "Transiting Exoplanet Community ERS",
            "t_obs_release": 59791.6,
            "instrument_name": "NIRSPEC/SLIT",
            "proposal_pi": "Batalha, Natalie",
            "proposal_id": "1366",
            "project": "JWST",
            "s_region": "POLYGON 217.3 -3.4 217.4 -3.4 217.4 -3.5",
            "jpegURL": None,
            "dataURL": None,
            "obsid": obsid,
            "objID": str(int(obsid) + 100000000),
        }
        record.update(row)
        self.observations.append(record)
        return record

    def add_product(
        self,
        obs: dict[str, Any],
        filename: str,
        *,
        subgroup: str,
        size: int = 20_000,
        product_type: str = "SCIENCE",
        calib_level: int = 3,
        rights: str = "PUBLIC",
        listed_size: int | None = None,
        viz: str = "ok",
        delivery: str = "direct",
        also_in: Iterable[dict[str, Any]] = (),
        blob: Blob | None = None,
        row: dict[str, Any] | None = None,
    ) -> Product:
        blob = blob or fits_blob(
            filename,
            size,
            TELESCOP="JWST",
            INSTRUME=obs["instrument_name"].split("/")[0],
            **{"DATE-OBS": "2022-07-10"},
        )
        uri = f"mast:JWST/product/{filename}"
        row = row or {
            "obsID": obs["obsid"],
            "obs_collection": "JWST",
            "dataproduct_type": obs["dataproduct_type"],
            "obs_id": obs["obs_id"],
            "description": f"exposure/target (L2b/L3): {subgroup}",
            "type": "D" if product_type == "SCIENCE" else "S",
            "dataURI": uri,
            "productType": product_type,
            "productGroupDescription": "Minimum Recommended Products",
            "productSubGroupDescription": subgroup,
            "productDocumentationURL": None,
            "project": "CALJWST",
            "prvversion": "1.11.4",
            "productFilename": filename,
            "size": blob.size if listed_size is None else listed_size,
            "_selected_": None,
            "parent_obsid": obs["obsid"],
            "dataRights": rights,
            "calib_level": calib_level,
            "proposal_id": obs["proposal_id"],
        }
        product = Product(row, blob, viz, delivery, also_in=tuple(str(o["obsid"]) for o in also_in))
        self.products.append(product)
        if delivery == "no_length":
            self.server.fault(f"{DOWNLOAD}?{uri_query(uri)}", Fault("no_length", times=10**6))
        if delivery == "redirect":
            assert self.cdn is not None, "a redirecting product needs the cdn server"
            self.cdn.add(CDN_PREFIX + filename, blob)
        return product

    def install(self) -> str:
        self.server.add(PATH_LOOKUP, self.path_lookup)
        self.server.add(INVOKE, self.invoke)
        self.server.add(VIZ_KEYWORDS, self.viz)
        self.server.add(DOWNLOAD, self.download)
        return self.server.base_url

    # -- queries for tests -----------------------------------------------------------------
    def calls(self, service: str) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.invocations if r.get("service") == service]

    def product_by_name(self, filename: str) -> Product:
        return next(p for p in self.products if p.row["productFilename"] == filename)

    # -- /api/v0/invoke --------------------------------------------------------------------
    def invoke(self, req: Request) -> Reply:
        if req.method != "POST":
            return Reply(b"POST only\n", 405, content_type="text/plain")
        if "application/x-www-form-urlencoded" not in req.headers.get("content-type", ""):
            return self._envelope("ERROR", msg="request must be form-encoded")
        try:
            request = json.loads(parse_qs(req.body.decode())["request"][0])
        except (KeyError, ValueError, UnicodeDecodeError) as exc:
            return self._envelope("ERROR", msg=f"bad request: {exc}")
        with self._lock:
            self.invocations.append(request)
        missing = {"service", "params", "format", "pagesize", "page", "cacheBreaker"} - set(request)
        if missing or request["format"] != "json":
            return self._envelope("ERROR", msg=f"bad request: missing {sorted(missing)}")
        service, page, size = request["service"], int(request["page"]), int(request["pagesize"])
        if service == "Mast.Caom.Filtered":
            filters = request["params"]["filters"]
            rows = [o for o in self.observations if all(row_matches(o, f) for f in filters)]
            fields, keys = self.obs_fields, [("Mast.Caom.Filtered", page)]
        elif service == "Mast.Caom.Products":
            ids = [i.strip() for i in str(request["params"]["obsid"]).split(",")]
            rows = self._product_rows(ids)
            fields, keys = self.product_fields, [("Mast.Caom.Products", i) for i in ids]
            if self.stuck_obsids & set(ids):
                return self._envelope("EXECUTING")
        else:
            return self._envelope("ERROR", msg=f"unknown service {service}")
        with self._lock:
            key = (service, request["cacheBreaker"], page)
            self._answers[key] += 1
            if self._answers[key] <= self.executing.get(service, 0):
                return self._envelope("EXECUTING")
            bad = next((k for k in keys if self.malformed.get(k, 0) > 0), None)
            if bad is not None:
                self.malformed[bad] -= 1
        pages = max(1, -(-len(rows) // size))
        reply = self._envelope(
            "COMPLETE",
            data=rows[(page - 1) * size : page * size],
            fields=fields,
            paging={
                "page": page,
                "pageSize": size,
                "pagesFiltered": pages,
                "rows": len(rows[(page - 1) * size : page * size]),
                "rowsFiltered": len(rows),
                "rowsTotal": len(rows),
            },
        )
        if bad is not None:
            reply.body = reply.body[: len(reply.body) // 2]  # cut mid-document
        return reply

    def _product_rows(self, ids: list[str]) -> list[dict[str, Any]]:
        rows = []
        for obsid in ids:
            for p in self.products:
                if str(p.row["obsID"]) == obsid:
                    rows.append(p.row)
                elif obsid in p.also_in:
                    rows.append({**p.row, "obsID": obsid})
        return rows

    @staticmethod
    def _envelope(status: str, msg: str = "", **parts: Any) -> Reply:
        doc = {"status": status, "msg": msg, "data": [], "fields": [], **parts}
        return Reply(json.dumps(doc).encode(), content_type=JSON_TYPE)

    # -- /viz/api/v0.1/keywords/search -----------------------------------------------------
    def _product(self, req: Request) -> Product | None:
        uri = req.arg("uri")
        return next((p for p in self.products if p.uri == uri), None)

    def viz(self, req: Request) -> Reply:
        product = self._product(req)
        if product is None or product.viz == "missing":
            return Reply(b'{"error": "not found"}', 404, content_type=JSON_TYPE)
        if product.viz_body is not None:
            return Reply(product.viz_body, content_type=JSON_TYPE)
        if product.viz == "empty":
            return Reply(b"", content_type=JSON_TYPE)
        doc = copy.deepcopy(self.viz_template) or {"ArchiveFileID": 1, "productLevel": "3"}
        name = product.row["productFilename"]
        doc.update(
            filename=name,
            fileSetName=name.rsplit("_", 1)[0],
            fileSize=product.blob.size,
            checksum=product.blob.md5,
            ingestCompletionDate="2022-08-01T12:00:00.000000",
        )
        if product.viz == "wrong_md5":
            doc["checksum"] = Blob.of(b"something else").md5
        if product.viz == "no_checksum":
            doc.pop("checksum")
        body = json.dumps(doc).encode()
        if product.viz == "malformed":
            body = body[: len(body) // 3]
        return Reply(body, content_type=JSON_TYPE)

    # -- /api/v0.1/path_lookup/ -------------------------------------------------------------
    def path_lookup(self, req: Request) -> Reply:
        answer: dict[str, Any] = {}
        for uri in req.query.get("uri", []):
            product = next((p for p in self.products if p.uri == uri), None)
            if product is None or not product.in_cloud:
                answer[uri] = {"status_code": 404, "path": None}
            else:
                answer[uri] = {"status_code": 200, "path": jwst_cloud_path(uri.rsplit("/", 1)[-1])}
        return Reply(json.dumps(answer).encode(), content_type=JSON_TYPE)

    # -- /api/v0.1/Download/file -----------------------------------------------------------
    def download(self, req: Request) -> Blob | Reply:
        product = self._product(req)
        if product is None:
            return Reply(b"File not found\n", 404, content_type="text/plain")
        if product.delivery == "redirect":
            assert self.cdn is not None
            location = self.cdn.url(CDN_PREFIX + product.row["productFilename"])
            return Reply(b"", 302, {"Location": location}, "text/plain")
        return product.blob


def default_archive(server: ArchiveServer, workdir: pathlib.Path) -> dict[str, str]:
    """A small JWST corpus for a crawl with no arguments (the spider's mission default).

    Captured (public SCIENCE FITS in the default subgroups, md5 from viz): a NIRSpec X1D, a
    NIRISS SOSS X1DINTS and its CALINTS (calib_level 2), a MIRI MRS S3D and X1D (a ``cube``
    observation, as MAST files MIRI MRS), a NIRCam grism X1DINTS. Left out by the defaults: a
    NIRSpec S2D (subgroup), an association JSON (AUXILIARY), a NIRCam image observation
    (dataproduct_type ``image``). About 100 KB; ``workdir`` is not needed. No extra arguments.
    """
    mast = MastArchive(server)
    nirspec = mast.add_observation("95000001", "jw01366-o001_t001_nirspec_clear-prism")
    soss = mast.add_observation(
        "95000002",
        "jw02734-o002_t001_niriss_clear-gr700xd",
        instrument_name="NIRISS/SOSS",
        dataproduct_type="timeseries",
        target_name="WASP-96",
        proposal_id="2734",
    )
    mrs = mast.add_observation(
        "95000003",
        "jw01039-o004_t001_miri_ch3-long",
        instrument_name="MIRI/IFU",
        dataproduct_type="cube",
        target_name="NGC6552",
        proposal_id="1039",
    )
    grism = mast.add_observation(
        "95000004",
        "jw01366-o004_t001_nircam_f322w2-grismr",
        instrument_name="NIRCAM/GRISM",
        dataproduct_type="timeseries",
    )
    image = mast.add_observation(
        "95000005",
        "jw02733-o001_t001_nircam_clear-f356w",
        instrument_name="NIRCAM/IMAGE",
        dataproduct_type="image",
        target_name="NGC-3132",
        proposal_id="2733",
    )
    add = mast.add_product
    add(nirspec, "jw01366-o001_t001_nirspec_clear-prism_x1d.fits", subgroup="X1D", size=12_000)
    add(nirspec, "jw01366-o001_t001_nirspec_clear-prism_s2d.fits", subgroup="S2D", size=8_000)
    add(
        nirspec,
        "jw01366-o001_20220709t233017_spec3_00001_asn.json",
        subgroup="ASN",
        product_type="AUXILIARY",
        blob=Blob.of(b'{"asn_type": "spec3", "products": []}\n', seed="asn"),
    )
    add(soss, "jw02734-o002_t001_niriss_clear-gr700xd_x1dints.fits", subgroup="X1DINTS")
    add(
        soss,
        "jw02734002001_04101_00001-seg001_nis_calints.fits",
        subgroup="CALINTS",
        calib_level=2,
        size=16_000,
    )
    add(mrs, "jw01039-o004_t001_miri_ch3-long_s3d.fits", subgroup="S3D", size=24_000)
    add(mrs, "jw01039-o004_t001_miri_ch3-long_x1d.fits", subgroup="X1D", size=8_000)
    add(grism, "jw01366-o004_t001_nircam_f322w2-grismr_x1dints.fits", subgroup="X1DINTS")
    add(image, "jw02733-o001_t001_nircam_clear-f356w_i2d.fits", subgroup="I2D", size=8_000)
    mast.install()
    return {}
