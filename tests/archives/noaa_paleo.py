"""NOAA NCEI paleo emulator: ``/access/paleo-search/study/search.json`` and the data files of
``/pub/data/paleo/``.

The search speaks the real protocol (:mod:`spiders.noaa_paleo`): ``limit`` (server
default 10) and ``skip`` paging over a filtered study list, HTTP 204 with an empty body when a
page has no study, JSON shaped like the recorded reply ``study_search_response_3studies.json``
(which :meth:`NoaaPaleoArchive.add_sample_studies` serves as is, ``>`` escaped as ``\\u003E``
like the server's serialiser). Filters: ``dataPublisher``, ``keywords`` (``|``-separated, with
``keywordsAndOr``), ``searchText`` and the ``earliestYear``/``latestYear`` BP window with
``timeMethod=overAny``. ``broken_skips`` makes the page at those ``skip`` values invalid JSON;
``page_links`` adds NOAA's ``page: [{"next": ...}]`` member. :func:`default_archive` holds
the mission's CO2 series (GEOCARB III, an ice-core CO2 record) among other studies.
"""

from __future__ import annotations

import json
import pathlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from tests.archives.content import Blob
from tests.archives.server import ArchiveServer, Reply, Request

SEARCH = "/access/paleo-search/study/search.json"


def template_file(
    study_id: str,
    title: str,
    rows: int = 40,
    columns: tuple[str, ...] = ("age_ka", "value"),
    data: list[tuple[float, ...]] | None = None,
) -> bytes:
    """A data file in NOAA's current text template (``#`` metadata, then tab-separated data)."""
    head = [
        f"# {title}",
        "#-----------------------------------------------------------------------",
        "#                World Data Service for Paleoclimatology, Boulder",
        "#                                  and",
        "#                     NOAA Paleoclimatology Program",
        "#             National Centers for Environmental Information (NCEI)",
        "#-----------------------------------------------------------------------",
        "# Template Version 3.0",
        "# Encoding: UTF-8",
        f"# NOAA_Landing_Page: https://www.ncei.noaa.gov/access/paleo-search/study/{study_id}",
        "# Missing_Values: -999",
        "#",
        "\t".join(columns),
    ]
    if data is None:
        lines = [f"{i * 0.5:.1f}\t{(i * 7919) % 1000 / 100:.2f}" for i in range(rows)]
    else:
        lines = ["\t".join(f"{v:g}" for v in row) for row in data]
    return ("\n".join(head + lines) + "\n").encode()


def study(
    study_id: str,
    name: str,
    files: list[str],
    *,
    lat: str = "10.5",
    lon: str = "-20.25",
    earliest_bp: int | None = 12000,
    recent_bp: int | None = 0,
    keywords: tuple[str, ...] = ("earth science>paleoclimate>paleocean>oxygen isotopes",),
    investigators: str = "Doe, J.; Roe, R.",
    version: str = "1.0",
    publications: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A study record shaped like the real search reply (sample JSON)."""
    return {
        "xmlId": f"9{study_id}",
        "NOAAStudyId": study_id,
        "studyName": name,
        "doi": f"https://doi.org/10.25921/emu-{study_id}",
        "dataPublisher": "NOAA",
        "dataType": "PALEOCEANOGRAPHY",
        "investigators": investigators,
        "version": version,
        "studyNotes": name,
        "onlineResourceLink": f"https://www.ncei.noaa.gov/access/paleo-search/study/{study_id}",
        "difMetadataLink": f"http://www1.ncdc.noaa.gov/pub/data/metadata/dif/noaa-{study_id}.xml",
        "scienceKeywords": ["Emulator"],
        "reconstruction": "N",
        "contributionDate": "2020-01-01",
        "entryId": f"noaa-ocean-{study_id}",
        "earliestYearBP": earliest_bp,
        "mostRecentYearBP": recent_bp,
        "earliestYearCE": None if earliest_bp is None else 1950 - earliest_bp,
        "mostRecentYearCE": None if recent_bp is None else 1950 - recent_bp,
        "publication": publications or [],
        "site": [
            {
                "NOAASiteId": f"5{study_id}",
                "siteName": f"Site {study_id}",
                "locationName": "Ocean>Emulated Sea",
                "geo": {
                    "geoType": "Feature",
                    "geometry": {"type": "POINT", "coordinates": [lat, lon]},
                    "properties": {
                        "southernmostLatitude": lat,
                        "northernmostLatitude": lat,
                        "westernmostLongitude": lon,
                        "easternmostLongitude": lon,
                        "minElevationMeters": "-1200",
                        "maxElevationMeters": "-1200",
                    },
                },
                "paleoData": [
                    {
                        "dataTableName": f"table {n}",
                        "NOAADataTableId": f"7{study_id}{n}",
                        "timeUnit": "cal yr BP",
                        "earliestYearBP": earliest_bp,
                        "mostRecentYearBP": recent_bp,
                        "dataFile": [
                            {
                                "fileUrl": url,
                                "urlDescription": "NOAA Template File",
                                "linkText": url.rsplit("/", 1)[-1],
                                "variables": [{"cvWhat": "age variable>age"}],
                                "NOAAKeywords": list(keywords),
                            }
                        ],
                    }
                    for n, url in enumerate(files)
                ],
            }
        ],
    }


@dataclass
class NoaaPaleoArchive:
    server: ArchiveServer
    studies: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    broken_skips: set[int] = field(default_factory=set)
    page_links: bool = False
    default_limit: int = 10
    searches: list[dict[str, str]] = field(default_factory=list)
    #: Recorded replies served byte for byte when a page holds exactly their studies.
    verbatim: list[tuple[list[str], bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.add(SEARCH, self._search)

    def add_study(self, record: dict[str, Any], files: dict[str, bytes] | None = None) -> None:
        """A study; its file URLs on the paleo tree are served (``files`` gives bodies)."""
        self.studies.append(record)
        for site in record.get("site") or []:
            for table in site.get("paleoData") or []:
                for data_file in table.get("dataFile") or []:
                    parts = urlsplit(data_file["fileUrl"])
                    if not parts.path.startswith("/pub/data/paleo/"):
                        continue
                    body = (files or {}).get(data_file["fileUrl"])
                    if body is None:
                        body = template_file(record["NOAAStudyId"], record["studyName"])
                    self.files.setdefault(parts.path, body)
                    self.server.add(parts.path, Blob.of(self.files[parts.path]), "text/plain")

    def add_sample_studies(self, sample_json: bytes) -> list[dict[str, Any]]:
        """The studies of a recorded reply; a page holding exactly them is that reply."""
        records = json.loads(sample_json)["study"]
        for record in records:
            self.add_study(record)
        self.verbatim.append(([r["NOAAStudyId"] for r in records], sample_json))
        return records

    # -- search ----------------------------------------------------------------------------
    def _matches(self, record: dict[str, Any], req: Request) -> bool:
        if req.arg("dataPublisher", "NOAA") != record.get("dataPublisher"):
            return False
        words = [w.lower() for w in (req.arg("keywords") or "").split("|") if w]
        if words:
            text = json.dumps(
                [
                    record.get("scienceKeywords"),
                    [
                        f.get("NOAAKeywords")
                        for s in record.get("site") or []
                        for t in s.get("paleoData") or []
                        for f in t.get("dataFile") or []
                    ],
                ]
            ).lower()
            hits = [w in text for w in words]
            if not (all(hits) if req.arg("keywordsAndOr") == "and" else any(hits)):
                return False
        search_text = (req.arg("searchText") or "").lower()
        if search_text and search_text not in json.dumps(record).lower():
            return False
        earliest, latest = req.arg("earliestYear"), req.arg("latestYear")
        if earliest is not None and req.arg("timeFormat") == "BP":
            old, young = record.get("earliestYearBP"), record.get("mostRecentYearBP")
            if old is None or young is None:
                return False
            # overAny: the study's [young, old] span overlaps the requested [latest, earliest]
            if old < int(latest or 0) or young > int(earliest):
                return False
        return True

    def _search(self, req: Request) -> Reply:
        self.searches.append({k: v[0] for k, v in req.query.items()})
        limit = int(req.arg("limit") or self.default_limit)
        skip = int(req.arg("skip") or 0)
        if skip in self.broken_skips:
            return Reply(
                b'{"study": [{"xmlId": "1", "studyName": "cut', 200, {}, "application/json"
            )
        found = [s for s in self.studies if self._matches(s, req)]
        page = found[skip : skip + limit]
        if not page:
            return Reply(b"", 204, content_type="application/json")
        for ids, raw in self.verbatim:
            if [s["NOAAStudyId"] for s in page] == ids and not self.page_links:
                return Reply(raw, 200, {}, "application/json;charset=UTF-8")
        payload: dict[str, Any] = {"study": page}
        if self.page_links:
            rest = {k: v[0] for k, v in req.query.items() if k not in ("skip",)}
            more = skip + limit < len(found)
            nxt = f"{self.server.base_url}{SEARCH}?{urlencode({**rest, 'skip': skip + limit})}"
            payload["page"] = [{"next": nxt} if more else {}]
        body = json.dumps(payload, indent=2).replace(">", "\\u003E").encode()
        return Reply(body, 200, {}, "application/json;charset=UTF-8")


PALEO = "https://www.ncei.noaa.gov/pub/data/paleo"


def default_archive(server: ArchiveServer, workdir: pathlib.Path) -> dict[str, str]:
    """The default (``co2`` profile) search in a few KB: the GEOCARB III Phanerozoic CO2 series
    (linked on NCEI's host), an ice-core CO2 record (linked on the old NCDC host, re-rooted)
    and a benthic d18O study that does not mention CO2 (not captured); files in NOAA's
    template layout."""
    noaa = NoaaPaleoArchive(server)
    geocarb = f"{PALEO}/climate_forcing/trace_gases/phanerozoic_co2.txt"
    ratios = [(570 - 10 * i, round(12 + 8 * ((i * 37) % 11) / 11 - i * 0.2, 2)) for i in range(58)]
    forcing = ("earth science>paleoclimate>climate forcing>carbon dioxide",)
    noaa.add_study(
        study(
            "200001",
            "Phanerozoic Atmospheric CO2 (GEOCARB III)",
            [geocarb],
            earliest_bp=570_000_000,
            recent_bp=0,
            keywords=forcing,
            investigators="Berner, R.A.; Kothavala, Z.",
        ),
        {
            geocarb: template_file(
                "200001",
                "GEOCARB III Phanerozoic CO2 (ratio RCO2 to pre-industrial)",
                columns=("age_Ma", "RCO2"),
                data=ratios,
            )
        },
    )
    edc = "http://www1.ncdc.noaa.gov/pub/data/paleo/icecore/antarctica/epica_domec/edc-co2.txt"
    ppm = [(i * 2.0, 180 + (i * 53) % 110) for i in range(60)]
    noaa.add_study(
        study(
            "200002", "EPICA Dome C 800KYr CO2 Data", [edc], earliest_bp=800_000, keywords=forcing
        ),
        {edc: template_file("200002", "EPICA Dome C CO2", columns=("age_ka", "co2_ppm"), data=ppm)},
    )
    noaa.add_study(
        study("200003", "Cenozoic benthic d18O", [f"{PALEO}/x/d18o.txt"], earliest_bp=66_000_000)
    )
    return {}
