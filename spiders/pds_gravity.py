"""PDS Geosciences Node gravity models: SHADR tables with their PDS3 labels, for Mars, Moon,
Venus and Mercury, checked against the labels and the volumes' MD5 manifests.

Where (pyshtools/tudat download URLs): on
``https://pds-geosciences.wustl.edu``, per body a data set directory, a volume and the
directory holding the spherical-harmonic models:

=======  ======================================  ===========  ============
body     data set                                volume       models
=======  ======================================  ===========  ============
mars     ``mro/mro-m-rss-5-sdp-v1``              mrors_1xxx   data/shadr
moon     ``grail/grail-l-lgrs-5-rdr-v1``         grail_1001   shadr
venus    ``mgn/mgn-v-rss-5-gravity-l2-v1``       mg_5201      gravity
mercury  ``messenger/mess-h-rss_mla-5-sdp-v1``   messrs_1001  data/shadr
=======  ======================================  ===========  ============

Listings: the node serves IIS directory pages (title ``pds-geosciences.wustl.edu - /path/``,
``[To Parent Directory]``, ``<date> <time> <size|&lt;dir&gt;> <A HREF="/abs/path">``: two
independent third-party scripts quote the title, a third-party test fixture the rows). Their
sizes are exact bytes and become the file's expected size; Apache/nginx pages (what
other PDS nodes serve) parse too, with no exact sizes.

Products (PDS3, ``capture.formats.pds3``): SHADR tables ``*_sha.tab`` with detached ``*_sha.lbl``
labels (``RECORD_TYPE = FIXED_LENGTH``, ``RECORD_BYTES = 122``, ``FILE_RECORDS``,
``^SHADR_HEADER_TABLE = ("X_SHA.TAB",1)``; real label gtmes_150v05_sha.lbl), and Magellan
files with an *attached* label (``shgj180u.a01``: ``LABEL_RECORDS``, ``^SHADR_HEADER_TABLE =
80``). Each label is fetched while listing (small) and parsed; it is captured together with the
table(s) its pointers name (both items, linked in metadata), and the table item carries
``FILE_RECORDS x RECORD_BYTES``. ``inspect_file`` compares the table's real size with it and
quarantines a mismatch with the reason, and records the SHADR header (radius, GM, degree).
With ``-a products=all`` every labelled product of the model directories is captured.

Checksums (UNCONFIRMED for these volumes, resolved safe both ways): the node's checksum page
(dataserv/checksums.html) says MD5 files exist per volume "in the data set directory along
with the volume directory or in a checksum subdirectory", named from the volume name and a
date; other Geosciences volumes carry ``index/md5.tab`` (MD5Deep output, backslash paths from
the volume root, e.g. messmla_2101/index/md5.lbl), the Small Bodies node ``index/checksum.tab``.
The spider looks in that order (newest dated file first) and, where one exists, verifies every
captured file's md5 through ``item.expect_digest``; the manifest itself is captured too. A
volume without a manifest is captured with size checks only.

Hosts: listing links are relative (``/abs/path``) on the node; a mirror given as ``base_url``
may also write them as absolute URLs on itself. Absolute links to the node's real host
(``http(s)://pds-geosciences.wustl.edu/...``, e.g. a listing saved from the node) name the same
tree and are re-rooted on ``base_url``; links to any other host are ignored
(``capture.formats.autoindex`` keeps only children of the listed directory).

What a run with no arguments captures (the mission's "planetary gravity fields"): for each of
Mars, Moon, Venus and Mercury, the listing of the model directory in the table above (e.g.
``GET /mro/mro-m-rss-5-sdp-v1/mrors_1xxx/data/shadr/``), every SHADR product there (the
``*_sha.tab`` tables with their ``*_sha.lbl`` labels, Magellan ``*.a01`` files with attached
labels, labelled non-SHADR products skipped) and the volume's md5 manifest where one is found.

Arguments: ``-a bodies=mars,moon,venus,mercury`` (default all), ``-a products=shadr|all``
(default shadr), ``-a base_url=...``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote, urljoin, urlsplit

import scrapy
from pydantic import Field, field_validator
from scrapy.http import Response, TextResponse
from scrapy_spider_metadata import Args

from capture import citation
from capture.formats.autoindex import parse_index
from capture.formats.pds3 import (
    Label,
    LabelError,
    manifest_lookup,
    parse_label,
    parse_md5_manifest,
    read_attached_label,
)
from capture.inspection import InspectionProblem
from capture.items import CapturedFile
from spiders.base import CaptureParams, CaptureSpider
from spiders.params import CommaList


@dataclass(frozen=True)
class Volume:
    body: str
    dataset: str
    volume: str
    model_dirs: tuple[str, ...]

    @property
    def root(self) -> str:
        return f"{self.dataset}/{self.volume}"


VOLUMES = {
    "mars": Volume("mars", "mro/mro-m-rss-5-sdp-v1", "mrors_1xxx", ("data/shadr",)),
    "moon": Volume("moon", "grail/grail-l-lgrs-5-rdr-v1", "grail_1001", ("shadr",)),
    "venus": Volume("venus", "mgn/mgn-v-rss-5-gravity-l2-v1", "mg_5201", ("gravity",)),
    "mercury": Volume(
        "mercury", "messenger/mess-h-rss_mla-5-sdp-v1", "messrs_1001", ("data/shadr",)
    ),
}
#: The node's own origins: absolute links to them are re-rooted on base_url.
NODE_ORIGINS = ("https://pds-geosciences.wustl.edu", "http://pds-geosciences.wustl.edu")
SHADR_TABLE = "*_sha.tab"  # IDsss_nnnnvv_SHA.TAB (dataserv/gravity_model_desc.htm)
ATTACHED = "*.a[0-9][0-9]"  # Magellan products with attached labels (shgj180u.a01)
INDEX_MANIFESTS = ("index/md5.tab", "index/checksum.tab")
# IIS rows: " 6/15/2016  2:54 PM        5612 <A HREF="/x/y.tab">y.tab</A>"
IIS_ROW = re.compile(
    r"\d{1,2}/\d{1,2}/\d{4}\s+\d{1,2}:\d{2}\s*[AP]M\s+(\d+|&lt;dir&gt;|<dir>)\s+"
    r"<a\s+href\s*=\s*\"([^\"]+)\"",
    re.I,
)
HEADER_FIELDS = (
    ("reference_radius_km", float),
    ("gm_km3_s2", float),
    ("gm_uncertainty", float),
    ("degree", int),
    ("order", int),
    ("normalization_state", int),
    ("reference_longitude", float),
    ("reference_latitude", float),
)
LABEL_FIELDS = (
    "PRODUCT_ID",
    "TARGET_NAME",
    "DATA_SET_ID",
    "OBSERVATION_TYPE",
    "INSTRUMENT_HOST_NAME",
    "SPACECRAFT_NAME",
    "PRODUCT_RELEASE_DATE",
    "PRODUCER_INSTITUTION_NAME",
)


def body_text(response: Response) -> str:
    """A response body as text, whatever Content-Type the server gave a label or table (a
    ``.lbl`` served as application/octet-stream is not a TextResponse)."""
    if isinstance(response, TextResponse):
        return response.text
    return response.body.decode("latin-1")


@dataclass
class Manifest:
    path: str  # archive path of the md5 table
    sums: dict[str, str]


@dataclass
class Entry:
    url: str
    name: str
    size: int | None  # exact bytes (IIS listings only)


def listing_entries(html: str, page_url: str) -> tuple[list[Entry], list[Entry]]:
    """(directories, files) of a directory page, with exact IIS sizes where given."""
    sizes: dict[str, int] = {}
    for size, href in IIS_ROW.findall(html):
        if size.isdigit():
            sizes[urljoin(page_url, href)] = int(size)
    dirs: list[Entry] = []
    files: list[Entry] = []
    for e in parse_index(html, page_url):
        (dirs if e.is_dir else files).append(Entry(e.url, e.name, sizes.get(e.url)))
    return dirs, files


def shadr_header(record: bytes) -> dict[str, Any]:
    """The SHADR header record: radius, GM, its uncertainty, degree, order, normalisation,
    reference longitude and latitude (SHADR SIS; header table of the label)."""
    fields = record.decode("ascii", "replace").split(",")
    if len(fields) < len(HEADER_FIELDS):
        raise ValueError(f"SHADR header has {len(fields)} fields, expected 8")
    values: dict[str, Any] = {}
    for (name, kind), raw in zip(HEADER_FIELDS, fields, strict=False):
        number = float(raw.strip().replace("D", "E"))  # Fortran may write 1.0D+03
        values[name] = int(number) if kind is int else number
    return values


def label_metadata(label: Label) -> dict[str, Any]:
    out = {k.lower(): label.get(k) for k in LABEL_FIELDS if label.get(k) is not None}
    out.update(
        record_type=label.get("RECORD_TYPE"),
        record_bytes=label.int("RECORD_BYTES"),
        file_records=label.int("FILE_RECORDS"),
        label_records=label.int("LABEL_RECORDS"),
        expected_size=label.expected_size,
    )
    return out


def label_citation(label: Label) -> dict[str, Any] | None:
    """What a PDS3 product label says to cite: its ``DATA_SET_ID`` (the PDS citation key of
    the data set), ``DATA_SET_NAME``, ``PRODUCER_INSTITUTION_NAME``, ``PRODUCT_RELEASE_DATE``,
    and a ``DOI`` / ``CITATION_DESC`` only where the label carries them (the SHADR labels
    seen carry neither: no DOI is then given)."""

    def text(key: str) -> str | None:
        value = label.get(key)
        return " ".join(str(value).split()) if value not in (None, "", "N/A", "UNK") else None

    data_set = text("DATA_SET_ID")
    if data_set is None:
        return None
    released = text("PRODUCT_RELEASE_DATE") or ""
    return citation.make(
        doi=citation.doi_of(text("DOI")),
        kind="dataset",
        title=text("DATA_SET_NAME") or data_set,
        authors=[a for a in [text("PRODUCER_INSTITUTION_NAME")] if a],
        publisher="NASA Planetary Data System, Geosciences Node",
        year=int(released[:4]) if released[:4].isdigit() else None,
        identifiers=[{"type": "PDS DATA_SET_ID", "value": data_set}]
        + ([{"type": "PDS PRODUCT_ID", "value": p}] if (p := text("PRODUCT_ID")) else []),
        text=text("CITATION_DESC"),
        source="PDS3 label (DATA_SET_ID, DATA_SET_NAME, PRODUCER_INSTITUTION_NAME, "
        "PRODUCT_RELEASE_DATE, DOI, CITATION_DESC)",
    )


class PdsGravityParams(CaptureParams):
    bodies: CommaList = Field(
        default=list(VOLUMES),
        description=f"bodies whose gravity models to capture ({', '.join(VOLUMES)})",
    )
    products: Literal["shadr", "all"] = Field(
        "shadr",
        description="shadr: the SHADR spherical-harmonic models with their labels; "
        "all: every labelled product of the model directories",
    )

    @field_validator("bodies")
    @classmethod
    def _bodies(cls, value: list[str]) -> list[str]:
        names = [v.lower() for v in value]
        unknown = [n for n in names if n not in VOLUMES]
        if unknown:
            raise ValueError(f"unknown bodies {unknown} (known: {', '.join(VOLUMES)})")
        return names or list(VOLUMES)  # bodies= (empty) is every body, as before


class PdsGravitySpider(CaptureSpider, Args[PdsGravityParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: PdsGravityParams
    name = "pds_gravity"
    domain = "planetary_interior"
    publisher = {
        "name": "NASA PDS Geosciences Node",
        "url": "https://pds-geosciences.wustl.edu/",
    }
    formats = ("pds_table", "pds_label")
    scope = (
        "SHADR gravity field models (*_sha.tab + PDS3 labels, Magellan attached-label files) "
        "of Mars (MRO), Moon (GRAIL), Venus (Magellan) and Mercury (MESSENGER), with the "
        "volumes' md5 manifests"
    )
    default_base_url = "https://pds-geosciences.wustl.edu"
    custom_settings = {
        # The node publishes no rate limit ("may be down on Thursdays between 7:00 and 9:30 pm
        # Central" for maintenance, dataserv pages: retries with backoff cover that); labels
        # are fetched one by one while listing, so two transfers and a pause are plenty.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DOWNLOAD_DELAY": 0.5,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        # dict.fromkeys: a body named twice is captured once
        self.volumes = [VOLUMES[n] for n in dict.fromkeys(self.args.bodies)]
        self.products = self.args.products

    # -- inline listing fetches ------------------------------------------------------------
    async def fetch(self, path: str, what: str) -> Response | None:
        """GET a small listing/label/manifest now (downloader middlewares apply: host guard,
        retries with backoff); None when it is absent (404) or failed, which is logged."""
        url = self.archive_url(path)
        engine = self.crawler.engine
        assert engine is not None
        try:
            response = await engine.download_async(scrapy.Request(url, dont_filter=True))
        except Exception as exc:
            self.crawler.stats.inc_value("pds_gravity/fetch_failed")
            self.logger.error("Could not fetch %s %s: %s", what, url, exc)
            return None
        if response.status == 200:
            return response
        if response.status != 404:
            self.crawler.stats.inc_value("pds_gravity/fetch_failed")
            self.logger.error("Could not fetch %s %s: HTTP %d", what, url, response.status)
        return None

    async def listing(self, path: str) -> tuple[list[Entry], list[Entry]] | None:
        response = await self.fetch(path.rstrip("/") + "/", "listing")
        if response is None:
            return None
        html = body_text(response)
        dirs, files = listing_entries(html, response.url)
        # Absolute links to the node itself name the same tree: re-rooted on base_url.
        seen = {self.path_of(e) for e in (*dirs, *files)}
        page = urlsplit(response.url).path
        for origin in NODE_ORIGINS:
            more_dirs, more_files = listing_entries(html, origin + page)
            for found, more in ((dirs, more_dirs), (files, more_files)):
                for entry in more:
                    rel = self.path_of(entry)
                    if rel not in seen:
                        seen.add(rel)
                        found.append(Entry(self.archive_url(rel), entry.name, entry.size))
        return dirs, files

    # -- discovery -------------------------------------------------------------------------
    async def discover(self) -> AsyncIterator[Any]:
        for volume in self.volumes:
            async for output in self.capture_volume(volume):
                yield output

    async def capture_volume(self, volume: Volume) -> AsyncIterator[Any]:
        manifest: Manifest | None = None
        source = await self.find_manifest(volume)
        if source is not None:
            entry, path = source
            response = await self.fetch(path, "checksum manifest")
            sums = parse_md5_manifest(body_text(response)) if response is not None else {}
            if sums:
                manifest = Manifest(path, sums)
                self.logger.info("%s: %d md5 sums from %s", volume.volume, len(sums), path)
                self.crawler.stats.set_value(f"pds_gravity/{volume.body}/md5_sums", len(sums))
                yield self.new_file(
                    self.archive_url(path),
                    path,
                    expected_size=entry.size,
                    metadata={"body": volume.body, "volume": volume.volume, "pds_role": "manifest"},
                )
        if manifest is None:
            self.crawler.stats.inc_value("pds_gravity/volumes_without_manifest")
            self.logger.info("%s: no md5 manifest found; size checks only", volume.volume)
        for model_dir in volume.model_dirs:
            listed = await self.listing(f"{volume.root}/{model_dir}")
            if listed is None:
                self.logger.error("%s: model directory %s not listed", volume.volume, model_dir)
                continue
            async for item in self.model_files(volume, model_dir, listed[1], manifest):
                yield item

    async def find_manifest(self, volume: Volume) -> tuple[Entry, str] | None:
        """Where the volume's md5 manifest is (see the module docstring), or None."""
        prefix = volume.volume.lower()
        candidates: list[tuple[Entry, str]] = []
        listed = await self.listing(volume.dataset)
        if listed is not None:
            dirs, files = listed
            candidates += [(f, f"{volume.dataset}/{f.name}") for f in files]
            for d in dirs:
                if d.name.lower() in ("checksum", "checksums"):
                    sub = await self.listing(f"{volume.dataset}/{d.name}")
                    if sub is not None:
                        candidates += [(f, f"{volume.dataset}/{d.name}/{f.name}") for f in sub[1]]
        dated = [
            c
            for c in candidates
            if c[0].name.lower().startswith(prefix) and "md5" in c[0].name.lower()
        ]
        if dated:
            return max(dated, key=lambda c: c[0].name)  # names end with the creation date
        index = await self.listing(f"{volume.root}/index")
        if index is not None:
            names = {f.name.lower(): f for f in index[1]}
            for rel in INDEX_MANIFESTS:
                entry = names.get(rel.split("/", 1)[1])
                if entry is not None:
                    return entry, f"{volume.root}/index/{entry.name}"
        return None

    async def model_files(
        self, volume: Volume, model_dir: str, files: list[Entry], manifest: Manifest | None
    ) -> AsyncIterator[CapturedFile]:
        stats = self.crawler.stats
        by_name = {f.name.lower(): f for f in files}
        claimed: set[str] = set()
        for entry in files:
            if not entry.name.lower().endswith(".lbl"):
                continue
            response = await self.fetch(f"{volume.root}/{model_dir}/{entry.name}", "label")
            if response is None:
                continue
            try:
                label = parse_label(body_text(response))
            except LabelError as exc:
                stats.inc_value("pds_gravity/bad_labels")
                self.logger.warning("%s is not a PDS3 label (%s)", response.url, exc)
                continue
            targets = [by_name.get(n.lower()) for n in label.data_files()]
            shadr = any(p.upper().startswith("SHADR") for p in label.pointers) or any(
                fnmatch.fnmatch(n.lower(), SHADR_TABLE) for n in label.data_files()
            )
            if self.products == "shadr" and not shadr:
                stats.inc_value("pds_gravity/skipped_not_shadr")
                continue
            described = [t for t in targets if t is not None]
            if len(described) < len(targets):
                stats.inc_value("pds_gravity/label_data_missing")
                self.logger.warning("%s names data files that are not listed", response.url)
            lbl_path = self.path_of(entry)
            meta = label_metadata(label)
            cited = label_citation(label)
            yield self.item(
                volume,
                model_dir,
                entry,
                manifest,
                cited,
                pds_role="label",
                describes=[self.path_of(t) for t in described],
                **{k: v for k, v in meta.items() if k in ("product_id", "target_name")},
            )
            for table in described:
                claimed.add(table.name.lower())
                yield self.item(
                    volume,
                    model_dir,
                    table,
                    manifest,
                    cited,
                    pds_role="table",
                    label=lbl_path,
                    **{f"label_{k}" if k in _LAYOUT else k: v for k, v in meta.items()},
                )
        for entry in files:
            name = entry.name.lower()
            if name in claimed or name.endswith(".lbl"):
                continue
            if fnmatch.fnmatch(name, ATTACHED):
                yield self.item(volume, model_dir, entry, manifest, pds_role="attached")
            elif fnmatch.fnmatch(name, SHADR_TABLE):
                stats.inc_value("pds_gravity/tables_without_label")
                yield self.item(volume, model_dir, entry, manifest, pds_role="table", label=None)

    @staticmethod
    def path_of(entry: Entry) -> str:
        """The archive's own path of a listed file."""
        return unquote(urlsplit(entry.url).path).lstrip("/")

    def item(
        self,
        volume: Volume,
        model_dir: str,
        entry: Entry,
        manifest: Manifest | None,
        cited: dict[str, Any] | None = None,
        **metadata: Any,
    ) -> CapturedFile:
        path = self.path_of(entry)
        item = self.new_file(
            self.archive_url(path),
            path,
            expected_size=entry.size,
            metadata={"body": volume.body, "volume": volume.volume, **metadata},
            citation=cited,
        )
        if manifest is not None:
            md5 = manifest_lookup(manifest.sums, path[len(volume.root) + 1 :])
            if md5:
                item.expect_digest("md5", md5, manifest.path)
            else:
                self.crawler.stats.inc_value("pds_gravity/not_in_manifest")
        return item

    # -- inspection (IO thread) ------------------------------------------------------------
    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any]:
        role = item.metadata.get("pds_role")
        if role == "label":
            with open(path, encoding="latin-1") as fh:
                try:
                    label = parse_label(fh.read())
                except LabelError as exc:
                    raise InspectionProblem(f"{item.archive_path}: {exc}") from exc
            return {"label_statements_ok": True, "pointers": sorted(label.pointers)}
        if role == "manifest":
            with open(path, encoding="latin-1") as fh:
                return {"manifest_entries": len(parse_md5_manifest(fh.read()))}
        if role == "attached":
            return self.inspect_attached(item, path)
        if role == "table":
            return self.inspect_table(item, path)
        return {}

    def inspect_table(self, item: CapturedFile, path: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        expected = item.metadata.get("label_expected_size")
        if expected is not None:
            check_size(item, path, expected, item.metadata)
            found["label_size_ok"] = True
        elif item.metadata.get("label") is None:
            found["label_missing"] = True
        if fnmatch.fnmatch(item.archive_path.lower(), SHADR_TABLE):
            found.update(read_header(path, 0, item.metadata.get("label_record_bytes") or 122))
        return found

    def inspect_attached(self, item: CapturedFile, path: str) -> dict[str, Any]:
        with open(path, "rb") as fh:
            head = fh.read(256 * 1024)
        try:
            label = read_attached_label(head)
        except LabelError as exc:
            raise InspectionProblem(f"{item.archive_path}: no attached PDS3 label ({exc})") from exc
        meta = label_metadata(label)
        found = {f"label_{k}" if k in _LAYOUT else k: v for k, v in meta.items()}
        if label.expected_size is not None:
            check_size(item, path, label.expected_size, found)
            found["label_size_ok"] = True
        header = label.pointers.get("SHADR_HEADER_TABLE")
        if header is not None and header.record and label.int("RECORD_BYTES"):
            record_bytes = label.int("RECORD_BYTES") or 122
            found.update(read_header(path, (header.record - 1) * record_bytes, record_bytes))
        return found


_LAYOUT = ("record_type", "record_bytes", "file_records", "label_records", "expected_size")


def check_size(item: CapturedFile, path: str, expected: int, layout: dict[str, Any]) -> None:
    actual = os.path.getsize(path)
    if actual == expected:
        return
    records = layout.get("label_file_records")
    size = layout.get("label_record_bytes")
    raise InspectionProblem(
        f"{item.archive_path} is {actual} bytes but its PDS3 label says FILE_RECORDS {records}"
        f" x RECORD_BYTES {size} = {expected} bytes",
        metadata={"label_size_ok": False, "actual_records": actual / size if size else None},
    )


def read_header(path: str, offset: int, record_bytes: int) -> dict[str, Any]:
    """The SHADR header as metadata; a header that does not parse is recorded, not fatal."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        record = fh.read(2 * record_bytes).split(b"\r\n", 1)[0]
    try:
        return {"shadr_header": shadr_header(record)}
    except ValueError as exc:
        return {"shadr_header_error": str(exc)}
