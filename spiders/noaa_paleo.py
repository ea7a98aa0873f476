"""NOAA NCEI Paleoclimatology (WDS-Paleo): study search JSON, then every study's data files.

Protocol (LinkedEarth/PyleoTUPS ``pyleotups/utils/api/query_builder.py``, ``http.py``):

* Search: ``GET /access/paleo-search/study/search.json?<params>&limit=N&skip=K``; parameter
  names from LinkedEarth/PyleoTUPS ``pyleotups/utils/api/query_builder.py``
  (``dataPublisher=NOAA`` always sent; ``keywords``, ``searchText``, ``dataTypeId``,
  ``earliestYear``/``latestYear`` with ``timeFormat``/``timeMethod``; several values joined
  with ``|`` plus ``<name>AndOr``). The server's default page is 10 studies; PyleoTUPS asks
  100 (``constants.py``), as we do by default.
* No (more) results: HTTP 204 with an empty body (PyleoTUPS ``http.py``: "handle 204 before
  attempting .json()").
* Paging: API examples in circulation (R/Julia snippets, third-party code) follow
  ``page[0].next`` of the response; the recorded sample
  (``study_search_response_3studies.json``) has no ``page`` key. Safe against both: our own
  ``skip`` advances by the studies received, and paging stops on 204, on an empty page, when
  ``page`` is present without a ``next``, or (no ``page`` key) when a page is shorter than
  ``limit``. The ``next`` URL itself is never followed (it could drop our filters).
* Response: ``study[]`` with ``NOAAStudyId``, ``studyName``, ``doi``, ``investigators``,
  ``earliestYearBP``/``mostRecentYearBP``, ``earliestYearCE``/``mostRecentYearCE``,
  ``site[].geo.geometry.coordinates`` = ``[lat, lon]`` *as strings*, and
  ``site[].paleoData[].dataFile[].fileUrl`` (sample). These go into each file's metadata.
* Files: ``https://www.ncei.noaa.gov/pub/data/paleo/...``. Links on the old NCDC hosts
  (``www1.ncdc.noaa.gov``, ``www.ncdc.noaa.gov``; NCDC became NCEI in 2015) name the same
  ``/pub/data/paleo/`` tree (e.g. the sample's ``difMetadataLink``); such file URLs are
  re-rooted on the archive's origin (``base_url``) instead of being fetched from a second
  host, so the file is captured once under one path. Anything else (another archive) is
  skipped and counted. No checksums or sizes are published.

A search page that is not valid JSON is logged as an error and counted; paging continues with
the next page (three bad pages in a row end the search), so one broken page never stops the
other files; the crawl then ends partial (its studies are missing, so no update round calls
their files gone). Study-level problems (a study without sites, a bad coordinate) skip only what is
broken.

Hosts: a file URL counts as the archive's when it is on ``base_url``'s own host and port (a
mirror given as ``base_url`` may rewrite ``fileUrl`` to itself) or on one of the NCEI/NCDC
hosts above; either way it is fetched from ``base_url`` under its ``/pub/data/paleo/`` path.

What a run with no arguments captures (the mission's geochemistry scope: "long-term carbon
cycle / CO2 and paleoclimate series", GEOCARB included): profile ``co2``, every NOAA study
mentioning CO2, i.e. the search ``dataPublisher=NOAA&searchText=CO2&limit=100&skip=0,100,...``
and every ``/pub/data/paleo/`` file of the studies it returns: meant to reach the Phanerozoic
GEOCARB III series (``climate_forcing/trace_gases/phanerozoic_co2.txt``), deep-time proxy
compilations and the ice-core CO2 records alike (the live hit list is UNCONFIRMED). The profile
applies only when neither ``keywords`` nor ``query`` is given (an explicit search replaces
it); ``-a profile=none`` searches all NOAA studies.

Arguments: ``-a keywords=CO2,Phanerozoic`` (NOAA keywords filter), ``-a profile=co2|geocarb|none``
(named query, below), ``-a query=dataTypeId=2&searchText=boron`` (raw extra search
parameters; dataTypeId 2 is "Climate Forcing" in the id tables of third-party clients),
``-a page_size=100``, ``-a max_studies=N``, ``-a base_url=...``.

Profile ``geocarb`` (the long-term carbon cycle only): no archive-hosted GEOCARB model output
exists (``shared/samples/geocarb``), but NCEI distributes Phanerozoic CO2 series
(``climate_forcing/trace_gases/phanerozoic_co2.txt`` holds GEOCARB III, Berner & Kothavala
2001, 570-0 Ma, per third-party data manifests; deep-time proxy compilations such as
``trace_gases/rae2021/``). The profile asks for studies mentioning CO2 (``searchText=CO2``)
whose data reach into the pre-Quaternary Phanerozoic: ``earliestYear=541000000``,
``latestYear=2600000``, ``timeFormat=BP``, ``timeMethod=overAny`` (any overlap with 541-2.6
Ma), which leaves out the ice-core CO2 records (< 1 Ma). The NCEI's semantics of these
parameters are taken from PyleoTUPS; the profile's exact hit list on the live service is
UNCONFIRMED.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import scrapy
from pydantic import Field, field_validator
from scrapy.http import Response
from scrapy_spider_metadata import Args

from capture import citation
from capture.items import CapturedFile
from spiders.base import CaptureParams, CaptureSpider
from spiders.params import CommaList, PositiveInt

SEARCH_PATH = "access/paleo-search/study/search.json"
PALEO_TREE = "/pub/data/paleo/"
#: Hosts that have served the NCEI/NCDC paleo file tree (the archive's own, old and new).
NOAA_HOSTS = {"www.ncei.noaa.gov", "ncei.noaa.gov", "www1.ncdc.noaa.gov", "www.ncdc.noaa.gov"}
PROFILES: dict[str, dict[str, str]] = {
    "co2": {"searchText": "CO2"},
    "none": {},
    "geocarb": {
        "searchText": "CO2",
        "earliestYear": "541000000",
        "latestYear": "2600000",
        "timeFormat": "BP",
        "timeMethod": "overAny",
    },
}
#: The mission's default search (module docstring), used when no search is given.
DEFAULT_PROFILE = "co2"
#: Paging parameters the spider sets itself.
PAGING = ("limit", "skip")
MAX_BAD_PAGES = 3
# Current NOAA template files carry "# NOAA_Landing_Page: <url>" and "# Template Version".
TEMPLATE_LANDING = re.compile(r"^#\s*NOAA_Landing_Page:\s*(\S+)", re.M)
TEMPLATE_VERSION = re.compile(r"^#\s*Template Version", re.M)


def as_float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def site_metadata(site: dict[str, Any]) -> dict[str, Any]:
    """Site name and coordinates as floats (the JSON stores ``[lat, lon]`` strings)."""
    geo = site.get("geo") or {}
    geometry = geo.get("geometry") or {}
    props = geo.get("properties") or {}
    out: dict[str, Any] = {
        "NOAASiteId": site.get("NOAASiteId"),
        "siteName": site.get("siteName"),
        "locationName": site.get("locationName"),
        "geometry_type": geometry.get("type"),
    }
    coords = geometry.get("coordinates")
    is_point = str(geometry.get("type", "")).upper() == "POINT"
    if is_point and isinstance(coords, list | tuple) and len(coords) >= 2:
        out["latitude"], out["longitude"] = as_float(coords[0]), as_float(coords[1])
    out["bbox"] = {
        "south": as_float(props.get("southernmostLatitude")),
        "north": as_float(props.get("northernmostLatitude")),
        "west": as_float(props.get("westernmostLongitude")),
        "east": as_float(props.get("easternmostLongitude")),
    }
    out["elevation_m"] = {
        "min": as_float(props.get("minElevationMeters")),
        "max": as_float(props.get("maxElevationMeters")),
    }
    return out


def study_metadata(study: dict[str, Any]) -> dict[str, Any]:
    pubs = [p for p in study.get("publication") or [] if isinstance(p, dict)]
    pub_dois = [
        (p.get("identifier") or {}).get("id")
        for p in pubs
        if isinstance(p.get("identifier"), dict) and p["identifier"].get("type") == "doi"
    ]
    keys = (
        "NOAAStudyId",
        "xmlId",
        "studyName",
        "doi",
        "investigators",
        "dataType",
        "contributionDate",
        "onlineResourceLink",
        "earliestYearBP",
        "mostRecentYearBP",
        "earliestYearCE",
        "mostRecentYearCE",
        "reconstruction",
        "entryId",
    )
    out = {k: study.get(k) for k in keys}
    out["publication_dois"] = [d for d in pub_dois if d]
    science = study.get("scienceKeywords")
    out["scienceKeywords"] = [k for k in science if isinstance(k, str)] if science else []
    return out


#: Who publishes NOAA paleo study DOIs (the search JSON's ``contactInfo.longName``, shortened).
NCEI = "NOAA National Centers for Environmental Information"


def study_citation(study: dict[str, Any]) -> dict[str, Any] | None:
    """The study's dataset citation as the search JSON publishes it: ``doi`` (the study DOI,
    ``https://doi.org/10.25921/...``), ``studyName``, ``investigators``, ``version``,
    ``contributionDate``, ``onlineResourceLink`` and ``publication[].citation`` with its
    ``identifier`` DOI (NCEI's ``contactInfo.constraints``: "Please cite original publication,
    online resource, dataset and publication DOIs")."""
    doi = citation.doi_of(study.get("doi"))
    related = []
    for pub in study.get("publication") or []:
        if not isinstance(pub, dict):
            continue
        found = pub.get("identifier")
        ident: dict[str, Any] = found if isinstance(found, dict) else {}
        pub_doi = citation.doi_of(ident.get("id")) if ident.get("type") == "doi" else None
        text = pub.get("citation") if isinstance(pub.get("citation"), str) else None
        if pub_doi or text:
            related.append(citation.related(pub_doi, text))
    investigators = study.get("investigators")
    authors = (
        [a.strip() for a in investigators.split(";") if a.strip()]
        if isinstance(investigators, str)
        else []
    )
    date = str(study.get("contributionDate") or "")
    if not (doi or study.get("studyName")):
        return None
    return citation.make(
        doi=doi,
        kind="dataset",
        title=study.get("studyName"),
        authors=authors,
        publisher=NCEI,
        year=int(date[:4]) if date[:4].isdigit() else None,
        version=str(study["version"]) if study.get("version") else None,
        url=study.get("onlineResourceLink"),
        identifiers=[{"type": "NOAAStudyId", "value": str(study["NOAAStudyId"])}]
        if study.get("NOAAStudyId")
        else [],
        related=related,
        source="NCEI paleo search.json study record (doi, studyName, investigators, version, "
        "contributionDate, publication)",
    )


class NoaaPaleoParams(CaptureParams):
    keywords: CommaList = Field(
        default=[], description="NOAA keywords to search for (any of them); replaces the profile"
    )
    profile: Literal["co2", "geocarb", "none"] | None = Field(
        None,
        description="named search: co2 (every study mentioning CO2), geocarb (CO2 studies "
        "reaching 541-2.6 Ma) or none (all NOAA studies); default co2 unless keywords or "
        "query is given",
    )
    query: str | None = Field(
        None,
        description="extra search.json parameters as a query string, e.g. "
        "dataTypeId=2&searchText=boron; replaces the profile",
    )
    page_size: PositiveInt = Field(100, description="studies per search page (limit)")
    max_studies: PositiveInt | None = Field(None, description="stop after N studies (sampling)")

    @field_validator("query")
    @classmethod
    def _query(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            pairs = parse_qsl(value, keep_blank_values=False, strict_parsing=True)
        except ValueError:
            raise ValueError(f"takes name=value&name=value, got {value!r}") from None
        paging = [k for k, _ in pairs if k in PAGING]
        if paging:
            raise ValueError(f"{paging[0]} is set by the spider (page_size), got {value!r}")
        return value


class NoaaPaleoSpider(CaptureSpider, Args[NoaaPaleoParams]):
    #: The parsed arguments (typed as this spider's own model).
    args: NoaaPaleoParams
    name = "noaa_paleo"
    domain = "geochemistry"
    publisher = {"name": "NOAA NCEI Paleoclimatology", "url": "https://www.ncei.noaa.gov/"}
    formats = ("text",)
    #: The page size changes how the search is paged, not what it finds.
    SCOPE_NEUTRAL = CaptureSpider.SCOPE_NEUTRAL | {"page_size"}
    scope = (
        "NOAA NCEI paleo studies mentioning CO2 (search.json dataPublisher=NOAA&searchText=CO2: "
        "GEOCARB III Phanerozoic CO2, proxy and ice-core CO2 series) and all their data files"
    )
    default_base_url = "https://www.ncei.noaa.gov"
    custom_settings = {
        # NCEI publishes no rate limit; PyleoTUPS calls small pages "best practice to avoid
        # overwhelming the API" (its tutorial): two connections, a short delay.
        "CONCURRENT_REQUESTS_PER_DOMAIN": 2,
        "DOWNLOAD_DELAY": 0.25,
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        a = self.args
        profile: str | None = a.profile
        if profile is None and not a.keywords and not a.query:
            profile = DEFAULT_PROFILE
        self.profile = None if profile in (None, "none") else profile
        self.page_size = a.page_size
        self.max_studies = a.max_studies
        params: dict[str, str] = {"dataPublisher": "NOAA"}
        params.update(PROFILES.get(self.profile or "", {}))
        params.update(dict(parse_qsl(a.query or "", keep_blank_values=False)))
        if a.keywords:
            params["keywords"] = "|".join(a.keywords)
            if len(a.keywords) > 1:
                params["keywordsAndOr"] = "or"  # PyleoTUPS: only with 2+ values
        self.params = params
        self._seen_urls: set[str] = set()
        self._studies = 0

    # -- search paging ---------------------------------------------------------------------
    def search_url(self, skip: int) -> str:
        query = urlencode({**self.params, "limit": self.page_size, "skip": skip})
        return f"{self.archive_url(SEARCH_PATH)}?{query}"

    def search_request(self, skip: int, bad_pages: int = 0) -> scrapy.Request:
        return scrapy.Request(
            self.search_url(skip),
            callback=self.parse_search,
            errback=self.listing_failed,
            cb_kwargs={"skip": skip, "bad_pages": bad_pages},
            dont_filter=True,
        )

    async def discover(self) -> AsyncIterator[Any]:
        self.logger.info("NOAA paleo search parameters: %s", self.params)
        yield self.search_request(0)

    def parse_search(self, response: Response, skip: int, bad_pages: int) -> Iterator[Any]:
        stats = self.crawler.stats
        if response.status == 204 or not response.body.strip():
            stats.inc_value("noaa_paleo/search/no_more_results")
            self.logger.info(
                "NOAA search: no (more) results at skip=%d (HTTP %d)", skip, response.status
            )
            return
        try:
            payload = json.loads(response.body)
            studies = payload["study"]
            if not isinstance(studies, list):
                raise TypeError(f"'study' is {type(studies).__name__}, not a list")
        except (ValueError, KeyError, TypeError) as exc:
            stats.inc_value("noaa_paleo/search/malformed_pages")
            # Its studies are lost: the discovery is partial (an update must not call their
            # files gone upstream), so the page counts as a failed listing request.
            stats.inc_value("noaa_paleo/search/listing_failed")
            self.logger.error(
                "NOAA search page %s is not valid search JSON (%s: %s); skipping %d studies",
                response.url,
                type(exc).__name__,
                exc,
                self.page_size,
            )
            if bad_pages + 1 < MAX_BAD_PAGES:
                yield self.search_request(skip + self.page_size, bad_pages + 1)
            else:
                self.logger.error("NOAA search: %d bad pages in a row, stopping", MAX_BAD_PAGES)
            return
        stats.inc_value("noaa_paleo/search/pages")
        for study in studies:
            if self.max_studies is not None and self._studies >= self.max_studies:
                return
            self._studies += 1
            stats.inc_value("noaa_paleo/search/studies")
            if not isinstance(study, dict):
                stats.inc_value("noaa_paleo/search/malformed_studies")
                continue
            yield from self.study_files(study)
        if not studies:
            return
        page = payload.get("page")
        if isinstance(page, list):
            more = bool(page and isinstance(page[0], dict) and page[0].get("next"))
        else:
            more = len(studies) >= self.page_size
        if more:
            yield self.search_request(skip + len(studies))

    # -- study -> files --------------------------------------------------------------------
    def study_files(self, study: dict[str, Any]) -> Iterator[CapturedFile]:
        stats = self.crawler.stats
        meta = study_metadata(study)
        cited = study_citation(study)
        if self.profile:
            meta["profile"] = self.profile
        for site in study.get("site") or []:
            if not isinstance(site, dict):
                continue
            site_meta = site_metadata(site)
            for table in site.get("paleoData") or []:
                if not isinstance(table, dict):
                    continue
                table_meta = {
                    k: table.get(k)
                    for k in (
                        "dataTableName",
                        "NOAADataTableId",
                        "timeUnit",
                        "earliestYearBP",
                        "mostRecentYearBP",
                        "earliestYearCE",
                        "mostRecentYearCE",
                    )
                }
                for data_file in table.get("dataFile") or []:
                    item = self.file_item(data_file, meta, site_meta, table_meta)
                    if item is not None:
                        item.citation = cited
                        stats.inc_value("noaa_paleo/files")
                        yield item

    def file_item(
        self,
        data_file: Any,
        study: dict[str, Any],
        site: dict[str, Any],
        table: dict[str, Any],
    ) -> CapturedFile | None:
        stats = self.crawler.stats
        if not isinstance(data_file, dict) or not data_file.get("fileUrl"):
            stats.inc_value("noaa_paleo/files/no_url")
            return None
        file_url = str(data_file["fileUrl"]).strip()
        parts = urlsplit(file_url)
        # base_url's own host:port is NOAA's too (a mirror rewrites fileUrl to itself).
        on_noaa = self.on_archive_host(file_url, *NOAA_HOSTS)
        if not on_noaa or not parts.path.startswith(PALEO_TREE):
            stats.inc_value("noaa_paleo/files/not_in_paleo_tree")
            self.logger.info("Skipping %s: not a file of the NCEI paleo tree", file_url)
            return None
        archive_path = unquote(parts.path).lstrip("/")
        if archive_path in self._seen_urls:
            stats.inc_value("noaa_paleo/files/duplicate")
            return None  # several data tables often share one file
        self._seen_urls.add(archive_path)
        variables = [
            v.get("cvWhat") for v in data_file.get("variables") or [] if isinstance(v, dict)
        ]
        keywords = [k for k in data_file.get("NOAAKeywords") or [] if isinstance(k, str)]
        metadata = {
            **study,
            "keywords": sorted(set(keywords) | set(study.get("scienceKeywords", []))),
            "site": site,
            "dataTable": table,
            "file": {
                "fileUrl": file_url,
                "urlDescription": data_file.get("urlDescription"),
                "linkText": data_file.get("linkText"),
                "variables": [v for v in variables if v],
            },
        }
        return self.new_file(self.archive_url(archive_path), archive_path, metadata=metadata)

    # -- inspection (IO thread) ------------------------------------------------------------
    def inspect_file(self, item: CapturedFile, path: str) -> dict[str, Any]:
        """Which NOAA text layout a data file uses (the current template, ``#`` metadata lines
        with ``# NOAA_Landing_Page:``, or a legacy WDC file) and its line count."""
        with open(path, "rb") as fh:
            head = fh.read(64 * 1024)
            lines = head.count(b"\n")
            while chunk := fh.read(1 << 20):
                lines += chunk.count(b"\n")
        text = head.decode("utf-8", "replace")
        found: dict[str, Any] = {"lines": lines}
        landing = TEMPLATE_LANDING.search(text)
        if landing or TEMPLATE_VERSION.search(text):
            found["text_layout"] = "noaa_template"
            if landing:
                found["landing_page"] = landing.group(1).strip()
        elif "World Data Center" in text[:4096]:
            found["text_layout"] = "legacy_wdc"
        else:
            found["text_layout"] = "other"
        return found
