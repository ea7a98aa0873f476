"""Unit tests of the MAST portal protocol helpers and the jwst_mast spider's arguments, on the
real recorded MAST answers where they exist."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, unquote

import pytest

from capture.formats.mast_portal import (
    MastAnswerError,
    parse_answer,
    parse_viz_keywords,
    product_metadata,
)
from capture.inspection import InspectionProblem
from spiders.base import SpiderArgumentError
from spiders.jwst_mast import JwstMastSpider, fits_primary_keywords, poll_delay
from spiders.mast_portal import (
    COLUMNS,
    PortalCall,
    ProductFilter,
    archive_path_for,
    column_filter,
    download_url,
    filter_sets,
)
from tests.archives.mast import fits_blob
from tests.archives.samples import sample_path


def test_invoke_body_is_astroquerys_wire_format() -> None:
    params = {"columns": "*", "filters": [{"paramName": "obs_collection", "values": ["JWST"]}]}
    call = PortalCall("Mast.Caom.Filtered", params, pagesize=500, cache_breaker="cb-1")
    request = {
        "service": "Mast.Caom.Filtered",
        "params": params,
        "format": "json",
        "pagesize": 500,
        "page": 1,
        "cacheBreaker": "cb-1",
    }
    # astroquery _prepare_service_request_string: 'request={}'.format(quote(json.dumps(obj)))
    assert call.body() == "request=" + quote(json.dumps(request))
    # ... which its paging loop edits in place: the body must contain this exact fragment.
    assert "page%22%3A%201%2C" in call.body()
    assert json.loads(unquote(call.body().removeprefix("request="))) == request
    assert call.poll().body() == call.body()  # EXECUTING: the identical request again
    page2 = call.at_page(2)
    assert page2.body() == call.body().replace("page%22%3A%201%2C", "page%22%3A%202%2C")
    assert PortalCall("Mast.Caom.Products", {}).cache_breaker != call.cache_breaker


def test_filters_are_built_like_build_filter_set() -> None:
    assert filter_sets(
        {
            "obs_collection": ["JWST"],
            "instrument_name": ["NIRSPEC%", "NIRISS/SOSS"],
            "calib_level": ["2", "3"],
            "t_min": ["59000", "60000.5"],
        }
    ) == [
        [
            {"paramName": "obs_collection", "separator": ";", "values": ["JWST"]},
            {"paramName": "instrument_name", "values": ["NIRISS/SOSS"]},
            {"paramName": "calib_level", "values": ["2", "3"]},
            {"paramName": "t_min", "values": [{"min": 59000.0, "max": 60000.5}]},
        ],
        [
            {"paramName": "obs_collection", "separator": ";", "values": ["JWST"]},
            {"paramName": "instrument_name", "values": [], "freeText": "NIRSPEC%"},
            {"paramName": "calib_level", "values": ["2", "3"]},
            {"paramName": "t_min", "values": [{"min": 59000.0, "max": 60000.5}]},
        ],
    ]
    # Two wildcards: two queries, one freeText each (the portal takes one per filter).
    sets = filter_sets({"target_name": ["WASP-3*", "HD*"]})
    assert [s[0]["freeText"] for s in sets] == ["WASP-3%", "HD%"]
    with pytest.raises(ValueError, match="one wildcard"):
        column_filter(COLUMNS["target_name"], ["A*", "B*"])


def test_real_invoke_answers_parse() -> None:
    filtered = parse_answer(sample_path("mast", "caom_filtered.json").read_bytes())
    assert filtered.status == "COMPLETE" and (filtered.page, filtered.pages) == (1, 1)
    assert [r["obs_id"] for r in filtered.rows] == ["O6AU01MSQ", "O6AU01MTQ", "O6AU01MUQ"]
    products = parse_answer(sample_path("mast", "caom_products_hst.json").read_bytes())
    assert len(products.rows) == 22
    counts = parse_answer(sample_path("mast", "caom_filtered_counts.json").read_bytes())
    assert counts.rows == [{"Column1": 599}]


@pytest.mark.parametrize(
    "body",
    [b'{"status": "COMPLETE", "data": [{"a": 1}', b"<html>busy</html>", b"[]", b""],
)
def test_malformed_answers_raise(body: bytes) -> None:
    with pytest.raises(MastAnswerError):
        parse_answer(body)


def test_executing_answer_parses_without_data() -> None:
    answer = parse_answer(b'{"status": "EXECUTING", "msg": ""}')
    assert answer.status == "EXECUTING" and answer.rows == []


def test_product_filter_on_real_hst_products() -> None:
    rows = parse_answer(sample_path("mast", "caom_products_hst.json").read_bytes()).rows
    science = ProductFilter()
    kept = [r for r in rows if science.skip_reason(r) is None]
    assert kept and all(r["productType"] == "SCIENCE" for r in kept)
    assert {science.skip_reason(r) for r in rows} == {None, "product_type"}
    anything = ProductFilter(product_types=None, subgroups=frozenset({"C3M"}))
    assert [r["productFilename"] for r in rows if anything.skip_reason(r) is None] == [
        "u9o40504m_c3m.fits"
    ]


def test_product_filter_rights_levels_and_extensions() -> None:
    row = {
        "dataURI": "mast:JWST/product/a_x1d.fits",
        "productFilename": "a_x1d.fits",
        "productType": "SCIENCE",
        "productSubGroupDescription": "X1D",
        "productGroupDescription": "Minimum Recommended Products",
        "calib_level": 3,
        "dataRights": "EXCLUSIVE_ACCESS",
    }
    assert ProductFilter().skip_reason(row) == "not_public"
    assert ProductFilter(public_only=False).skip_reason(row) is None
    public = {**row, "dataRights": "PUBLIC"}
    assert ProductFilter(calib_levels=frozenset({2})).skip_reason(public) == "calib_level"
    assert ProductFilter(extensions=("jpg",)).skip_reason(public) == "extension"
    assert ProductFilter(mrp_only=True).skip_reason({**public, "productGroupDescription": None})
    assert ProductFilter().skip_reason({**public, "dataURI": "s3://x"}) == "no_mast_uri"


def test_real_viz_keywords_answer_gives_md5_and_size() -> None:
    facts = parse_viz_keywords(
        sample_path("mast", "jwst_viz_keywords_search_uri_x1d.json").read_bytes()
    )
    assert (facts.md5, facts.size, facts.problem) == (
        "988f90cad25ebfcae20481d6d7aa35e1",
        190080,
        None,
    )
    assert facts.extra["fileSetName"] == "jw01039-o004_t001_miri"


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty"),
        (b'{"fileSize": 1, "checks', "malformed_json"),
        (b'"text"', "not_an_object"),
        (b'{"fileSize": 10}', "no_checksum"),
        (b'{"fileSize": 10, "checksum": "abc"}', "checksum_not_md5"),
    ],
)
def test_unusable_viz_answers(body: bytes, problem: str) -> None:
    facts = parse_viz_keywords(body)
    assert facts.md5 is None and facts.problem == problem


def test_paths_and_urls_from_data_uris() -> None:
    uri = "mast:JWST/product/jw01366-o001_t001_nirspec_clear-prism_x1d.fits"
    assert archive_path_for(uri) == "JWST/product/jw01366-o001_t001_nirspec_clear-prism_x1d.fits"
    assert download_url("https://mast.stsci.edu", uri) == (
        "https://mast.stsci.edu/api/v0.1/Download/file?uri=" + uri
    )
    odd = "mast:JWST/product/a b+c&d.fits"
    assert download_url("http://h", odd).endswith("?uri=mast:JWST/product/a%20b%2Bc%26d.fits")
    with pytest.raises(ValueError):
        archive_path_for("s3://stpubdata/jwst/x.fits")


def test_product_metadata_joins_observation_and_product() -> None:
    obs = {"obsid": "87602009", "obs_id": "jw01366-o001", "calib_level": 3, "target_name": "W"}
    meta = product_metadata(
        {"obsID": 87602009, "obs_id": "jw01366001001_nrs1", "calib_level": 2, "size": 9}, obs
    )
    assert meta == {
        "obsid": "87602009",
        "obs_id": "jw01366001001_nrs1",
        "obs_calib_level": 3,
        "calib_level": 2,
        "target_name": "W",
        "obsID": "87602009",
        "size": 9,
    }


def test_poll_delay_is_bounded() -> None:
    delays = [poll_delay(n) for n in range(60)]
    assert delays[:3] == [0.5, 1.0, 2.0] and max(delays) == 10.0
    assert 500 < sum(delays) < 700  # about astroquery's 600 s portal timeout


def test_fits_header_keywords(tmp_path: Path) -> None:
    blob = fits_blob("x", 6000, TELESCOP="JWST", INSTRUME="NIRSPEC", TARGPROP="WASP/39")
    good = tmp_path / "a.fits"
    good.write_bytes(blob.read(0, blob.size))
    assert fits_primary_keywords(str(good)) == {
        "TELESCOP": "JWST",
        "INSTRUME": "NIRSPEC",
        "TARGPROP": "WASP/39",
    }
    bad = tmp_path / "b.fits"
    bad.write_bytes(b"<html>" + b" " * 3000)
    with pytest.raises(InspectionProblem, match="not a FITS file"):
        fits_primary_keywords(str(bad))
    endless = tmp_path / "c.fits"
    endless.write_bytes(blob.read(0, 2880)[: 80 * 4].ljust(2880 * 3))
    with pytest.raises(InspectionProblem, match="no END"):
        fits_primary_keywords(str(endless))


def test_spider_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAST_API_TOKEN", raising=False)
    spider = JwstMastSpider(
        instrument="NIRSPEC,NIRISS/SOSS",
        target="WASP-39",
        calib_level="3",
        subgroups="X1D,S3D",
        t_max="59000,60000",
    )
    # A bare instrument matches all its modes: NIRSPEC% in a query of its own.
    assert len(spider.queries) == 2
    instruments = [f for q in spider.queries for f in q if f["paramName"] == "instrument_name"]
    assert instruments == [
        {"paramName": "instrument_name", "values": ["NIRISS/SOSS"]},
        {"paramName": "instrument_name", "values": [], "freeText": "NIRSPEC%"},
    ]
    assert spider.products.calib_levels == {3} and spider.products.subgroups == {"X1D", "S3D"}
    assert spider.products.product_types == {"SCIENCE"} and spider.products.public_only
    assert spider.verify_md5 and spider.batch_size == 500 and spider.pagesize == 50000
    monkeypatch.setenv("MAST_API_TOKEN", "secret-token")
    spider = JwstMastSpider(target="WASP-39", product_type="all", verify_md5="0")
    assert spider.products.product_types is None and not spider.products.public_only
    assert not spider.verify_md5
    for bad in (
        {"target": "X", "calib_level": "three"},
        {"target": "X", "t_min": "1"},
        {"target": "X", "batch_size": "0"},
        {"obs_collection": "HST"},
    ):
        with pytest.raises(SpiderArgumentError):
            JwstMastSpider(**bad)
