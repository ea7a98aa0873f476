"""Citations in process: DOI normalisation, the item schema, what each archive's parser reads
from real recorded responses, and the renderers for a file with no published citation."""

from __future__ import annotations

import json
from typing import Any

import pytest

from capture import citation
from capture.export import cite
from capture.formats.pds3 import parse_label
from capture.items import CapturedFile, item_dict
from capture.validation import full_errors, item_errors
from spiders.noaa_paleo import study_citation
from spiders.pds_gravity import label_citation
from tests.archives.samples import sample_path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://doi.org/10.25921/3ee7-kx97", "10.25921/3ee7-kx97"),
        ("doi:10.17611/DP/9991680", "10.17611/DP/9991680"),
        ("http://dx.doi.org/10.1029/2011PA002139", "10.1029/2011PA002139"),
        ("10.26133/NEA12", "10.26133/NEA12"),
        ("https://www.ncei.noaa.gov/access/paleo-search/study/18315", None),
        ("10.1/x", None),  # registrant codes have 4-9 digits
        ("", None),
        (None, None),
    ],
)
def test_doi_of(value: Any, expected: str | None) -> None:
    assert citation.doi_of(value) == expected


def test_make_refuses_what_is_not_a_doi_and_drops_empty_fields() -> None:
    with pytest.raises(ValueError, match="not a DOI"):
        citation.make(doi="study 18315", source="x")
    with pytest.raises(ValueError, match="kind"):
        citation.make(kind="software", source="x")
    assert citation.make(title="t", authors=[], url=None, source="s") == {
        "title": "t",
        "kind": "dataset",
        "source": "s",
    }


def test_item_schema_checks_the_citation() -> None:
    item = CapturedFile("noaa_paleo", "geochemistry", "https://x.invalid/a", "a")
    item.citation = citation.make(doi="10.25921/3ee7-kx97", title="t", year=2015, source="s")
    assert item_errors(item_dict(item)) == []
    bad = item_dict(item)
    bad["citation"]["doi"] = "not-a-doi"
    assert item_errors(bad) and any(e.startswith("citation/doi") for e in full_errors(bad))
    bad["citation"] = {"kind": "dataset"}  # where it came from is required
    assert any("source" in e for e in full_errors(bad))


def test_noaa_study_citation_from_the_recorded_reply() -> None:
    raw = sample_path("noaa_paleo", "study_search_response_3studies.json").read_text()
    studies = {s["NOAAStudyId"]: s for s in json.loads(raw)["study"]}
    cited = {k: study_citation(s) for k, s in studies.items()}
    assert {k: c["doi"] for k, c in cited.items() if c} == {
        "18315": "10.25921/3ee7-kx97",
        "8630": "10.25921/qps2-8w14",
        "16055": "10.25921/s4sf-b659",
    }
    c = cited["18315"]
    assert c is not None and c["year"] == 2015 and c["version"] == "1.0"
    assert c["related"][0]["doi"] == "10.1029/2011PA002139"
    assert c["related"][0]["text"] == studies["18315"]["publication"][0]["citation"]


LABEL = """PDS_VERSION_ID = PDS3
RECORD_TYPE = FIXED_LENGTH
DATA_SET_ID = "MRO-M-RSS-5-SDP-V1.0"
DATA_SET_NAME = "MRO MARS RADIO SCIENCE DERIVED PRODUCTS V1.0"
PRODUCER_INSTITUTION_NAME = "NASA GODDARD SPACE FLIGHT CENTER"
PRODUCT_ID = "JGMRO_120F_SHA"
PRODUCT_RELEASE_DATE = 2020-02-14
{extra}END
"""


def test_pds_label_citation_with_and_without_a_doi() -> None:
    plain = label_citation(parse_label(LABEL.format(extra="")))
    assert plain is not None and "doi" not in plain
    assert plain["title"] == "MRO MARS RADIO SCIENCE DERIVED PRODUCTS V1.0"
    assert plain["identifiers"][0] == {"type": "PDS DATA_SET_ID", "value": "MRO-M-RSS-5-SDP-V1.0"}
    assert plain["authors"] == ["NASA GODDARD SPACE FLIGHT CENTER"] and plain["year"] == 2020
    with_doi = label_citation(parse_label(LABEL.format(extra='DOI = "10.17189/1522643"\n')))
    assert with_doi is not None and with_doi["doi"] == "10.17189/1522643"
    assert label_citation(parse_label("PDS_VERSION_ID = PDS3\nEND\n")) is None


def test_a_file_without_a_published_citation_is_cited_by_archive_and_url() -> None:
    rec = {
        "id": 7,
        "archive": "kurucz",
        "archive_path": "grids/gridp00k2odfnew/fp00k2odfnew.pck",
        "path": "astrophysics/kurucz/grids/gridp00k2odfnew/fp00k2odfnew.pck",
        "url": "http://kurucz.harvard.edu/grids/gridp00k2odfnew/fp00k2odfnew.pck",
        "version": 2,
        "retrieved_at": "2026-11-30T10:00:00+00:00",
        "sha256": "ab" * 32,
        "size": 10,
        "citation": None,
    }
    text = cite.text(rec)
    assert "doi.org" not in text and rec["url"] in text and "none published" in text
    assert "capture version 2, accessed 2026-11-30, sha256 " + "ab" * 32 in text
    bib = cite.bibtex(rec)
    assert bib.startswith("@misc{") and "doi =" not in bib and "urldate = {2026-11-30}" in bib
    csl = cite.csl(rec)
    assert "DOI" not in csl and csl["accessed"] == {"date-parts": [[2026, 11, 30]]}
