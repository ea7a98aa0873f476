"""End-to-end crawls of ``jwst_mast`` against the MAST emulator (real sockets, real ``scrapy
crawl`` processes).

The main crawl (one process, token set) covers, file by file:

==========  ===============================================================================
A1          X1D, md5 from viz, listed by observations A and B (captured once)
A5          EXCLUSIVE_ACCESS product: captured because a token is set
A2/A3/A4    S2D / PREVIEW / calib_level 2: filtered out
B1          viz md5 wrong: quarantined after one re-transfer
B3          302 to the "CDN" (second server, allowed by -s): no token there; listed size
            wrong but md5 right: stored, flagged
C1          its Products answer is malformed JSON every time: clear error, rest goes on
D1          served without Content-Length, md5-verified
D2/D3/D5    viz malformed / 404 / empty: stored without md5, product-list size checked
D4          viz 404 and product-list size wrong: quarantined (size is the only check)
==========  ===============================================================================

and the portal protocol: filters as astroquery sends them, two EXECUTING answers per
Filtered request, two pages (page 2 malformed once, then fine), product batches.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from spiders.base import SpiderArgumentError
from spiders.jwst_mast import COLUMN_ARGS, JwstMastSpider
from spiders.mast_portal import ALIASES, COLUMNS
from tests.archives import ArchiveServer, Blob
from tests.archives.mast import (
    DOWNLOAD,
    INVOKE,
    VIZ_KEYWORDS,
    MastArchive,
    default_archive,
    fits_blob,
    uri_query,
)
from tests.archives.samples import sample_path
from tests.crawl import CrawlResult, catalog_rows, run_crawl, sha256_of

TOKEN = f"mast-{uuid.uuid4().hex}"
VIZ = "MAST viz keywords/search"
FILTERED, PRODUCTS = "Mast.Caom.Filtered", "Mast.Caom.Products"

A1 = "jw01366-o001_t001_nirspec_clear-prism-s1600a1_x1d.fits"
A2 = "jw01366-o001_t001_nirspec_clear-prism-s1600a1_s2d.fits"
A3 = "jw01366-o001_t001_nirspec_clear-prism-s1600a1_x1d.jpg"
A4 = "jw01366001001_04101_00001-seg001_nrs1_x1d.fits"
A5 = "jw01366-o001_t002_nirspec_clear-prism-s1600a1_x1d.fits"
B1 = "jw01366-o002_t001_nirspec_g395h-f290lp-s1600a1_x1d.fits"
B3 = "jw01366-o002_t002_nirspec_g395h-f290lp-s1600a1_x1d.fits"
C1 = "jw01366-o003_t001_nirspec_prism-clear_s3d.fits"
D1 = "jw01366-o004_t001_nirspec_clear-prism_x1d.fits"
D2 = "jw01366-o004_t001_nirspec_clear-prism_s3d.fits"
D3 = "jw01366-o004_t002_nirspec_clear-prism_x1d.fits"
D4 = "jw01366-o004_t003_nirspec_clear-prism_x1d.fits"
D5 = "jw01366-o004_t004_nirspec_clear-prism_x1d.fits"
EXPECTED = {
    A1: "stored",
    A5: "stored",
    B1: "quarantined",
    B3: "stored",
    D1: "stored",
    D2: "stored",
    D3: "stored",
    D4: "quarantined",
    D5: "stored",
}
OBSIDS = {"A": "90000001", "B": "90000002", "C": "90000003", "D": "90000004"}


def path_of(filename: str) -> str:
    return f"JWST/product/{filename}"


@dataclass
class Main:
    result: CrawlResult
    mast: MastArchive
    server: ArchiveServer
    cdn: ArchiveServer

    def item(self, filename: str) -> dict:
        return self.result.by_path()[path_of(filename)]

    def blob(self, filename: str) -> Blob:
        return self.mast.product_by_name(filename).blob


def build_main_corpus(mast: MastArchive) -> None:
    obs = {}
    for key, obsid, extra in (
        ("A", OBSIDS["A"], {}),
        ("E", "90000005", {"instrument_name": "NIRISS/SOSS"}),
        ("B", OBSIDS["B"], {}),
        ("F", "90000006", {"calib_level": 2}),
        ("C", OBSIDS["C"], {"instrument_name": "NIRSPEC/IFU", "dataproduct_type": "cube"}),
        ("G", "90000007", {"target_name": "WASP-96"}),
        ("D", OBSIDS["D"], {"instrument_name": "NIRSPEC"}),  # bare name, as viz shows MIRI
    ):
        obs[key] = mast.add_observation(obsid, f"jw01366-o00{len(obs) + 1}_t001_nirspec", **extra)
    add = mast.add_product
    add(obs["A"], A1, subgroup="X1D", size=30_000, also_in=[obs["B"]])
    add(obs["A"], A2, subgroup="S2D")
    add(obs["A"], A3, subgroup="X1D", product_type="PREVIEW", blob=Blob(A3, 5000))
    add(obs["A"], A4, subgroup="X1D", calib_level=2)
    add(obs["A"], A5, subgroup="X1D", rights="EXCLUSIVE_ACCESS")
    add(obs["B"], B1, subgroup="X1D", size=25_000, viz="wrong_md5")
    add(obs["B"], B3, subgroup="X1D", size=40_000, delivery="redirect", listed_size=41_000)
    add(obs["C"], C1, subgroup="S3D")
    add(obs["D"], D1, subgroup="X1D", size=200_000, delivery="no_length")
    add(obs["D"], D2, subgroup="S3D", size=60_000, viz="malformed")
    add(obs["D"], D3, subgroup="X1D", viz="missing")
    add(obs["D"], D4, subgroup="X1D", viz="missing", listed_size=19_000)
    add(obs["D"], D5, subgroup="X1D", viz="empty")
    mast.executing = {FILTERED: 2}
    mast.malformed = {(FILTERED, 2): 1, (PRODUCTS, OBSIDS["C"]): 99}


@pytest.fixture(scope="module")
def main(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Main]:
    with ArchiveServer() as server, ArchiveServer() as cdn:
        mast = MastArchive(server, cdn)
        build_main_corpus(mast)
        data_dir = tmp_path_factory.mktemp("jwst_mast") / "data"
        result = run_crawl(
            "jwst_mast",
            data_dir,
            args={
                "base_url": mast.install(),
                "instrument": "NIRSPEC",
                "target": "WASP-39",
                "calib_level": "3",
                "product_type": "SCIENCE",
                "subgroups": "X1D,S3D",
                "pagesize": "3",
                "batch_size": "2",
            },
            settings={
                "CAPTURE_EXTRA_ALLOWED_HOSTS": f"127.0.0.1:{cdn.port}",
                "LOG_LEVEL": "DEBUG",
            },
            env={"MAST_API_TOKEN": TOKEN},
            timeout=300,
        )
        assert result.returncode == 0, result.log[-3000:]
        yield Main(result, mast, server, cdn)


def test_observation_query_pages_and_polls_like_astroquery(main: Main) -> None:
    filtered = main.mast.calls(FILTERED)
    first = filtered[0]
    assert first == {
        "service": FILTERED,
        "params": {
            "columns": "*",
            "filters": [
                {"paramName": "obs_collection", "separator": ";", "values": ["JWST"]},
                {"paramName": "instrument_name", "values": [], "freeText": "NIRSPEC%"},
                {"paramName": "target_name", "values": ["WASP-39"]},
                {"paramName": "calib_level", "values": ["3"]},
                # not given: the mission's default
                {"paramName": "dataproduct_type", "values": ["spectrum", "timeseries", "cube"]},
            ],
        },
        "format": "json",
        "pagesize": 3,
        "page": 1,
        "cacheBreaker": first["cacheBreaker"],
    }
    # EXECUTING twice, then COMPLETE; page 2 (of pagesFiltered=2) is the same request but
    # "page"; it was malformed once and asked again.
    assert [c["page"] for c in filtered].count(1) == 3
    assert [c["page"] for c in filtered].count(2) == 4
    assert all(c == {**first, "page": c["page"]} for c in filtered)
    stats = main.result.stats
    assert stats["jwst_mast/portal/executing_polls"] == 4
    assert stats["jwst_mast/observations"] == 4
    for entry in main.server.requests_for(INVOKE):
        assert entry.method == "POST"
        assert entry.headers["content-type"] == "application/x-www-form-urlencoded"
        assert entry.headers["accept"] == "text/plain"


def test_products_in_batches_and_malformed_answer_gives_clear_error(main: Main) -> None:
    calls = [(c["params"]["obsid"], c["page"]) for c in main.mast.calls(PRODUCTS)]
    a, b, c, d = (OBSIDS[k] for k in "ABCD")
    # Observations page 1 (A, B, C) in batches of 2, page 2 (D); product lists are paged
    # with the same pagesize (3): A+B list 7 rows, D 5; C's batch asked 3 times (malformed).
    ab = f"{a},{b}"
    assert sorted(calls) == sorted(
        [(ab, 1), (ab, 2), (ab, 3), (c, 1), (c, 1), (c, 1), (d, 1), (d, 2)]
    )
    assert all(c["params"] == {"obsid": c["params"]["obsid"]} for c in main.mast.calls(PRODUCTS))
    stats = main.result.stats
    assert stats["jwst_mast/portal/malformed_retried"] == 3  # page 2 once, C's batch twice
    assert stats["jwst_mast/portal/gave_up_malformed"] == 1
    assert (
        f"Mast.Caom.Products obsid {c} page 1: malformed JSON" in main.result.log
        and "giving up on it, the rest of the crawl goes on" in main.result.log
    )
    assert path_of(C1) not in main.result.by_path()
    # Everything else was captured or settled as expected.
    assert main.result.statuses() == {path_of(f): s for f, s in EXPECTED.items()}
    assert stats["jwst_mast/products/duplicate_uri"] == 1  # A1 listed by A and B
    for reason in ("subgroup", "product_type", "calib_level"):
        assert stats[f"jwst_mast/products/skipped/{reason}"] == 1


def test_stored_files_are_md5_verified_with_stable_fields(main: Main) -> None:
    base = main.server.base_url
    stable = {"archive", "domain", "url", "path", "size", "sha256", "checksum", "format"}
    stable |= {"quality", "status", "run_id", "retrieved_at", "http"}
    assert all(stable <= set(item) for item in main.result.items)
    for name in (A1, A5, B3, D1):
        item, blob = main.item(name), main.blob(name)
        assert item["status"] == "stored"
        assert item["checksum"] == {
            "algorithm": "md5",
            "expected": blob.md5,
            "actual": blob.md5,
            "source": VIZ,
            "verified": True,
        }
        assert item["url"] == f"{base}{DOWNLOAD}?uri=mast:JWST/product/{name}"
        assert item["path"] == f"spectroscopy/jwst_mast/JWST/product/{name}"
        assert item["archive"] == "jwst_mast" and item["domain"] == "spectroscopy"
        assert item["size"] == blob.size and item["sha256"] == blob.sha256
        assert item["expected_size"] == blob.size  # viz fileSize
        assert item["format"] == "fits" and item["run_id"] and item["retrieved_at"]
        assert set(item["http"]) == {"etag", "last_modified", "final_url"}
        assert sha256_of(main.result.data_dir / item["path"]) == blob.sha256
    # D1 came without Content-Length (close-delimited) and still verified.
    (d1,) = [
        e
        for e in main.server.requests_for(DOWNLOAD)
        if e.query == uri_query(f"mast:JWST/product/{D1}")
    ]
    assert d1.fault == "no_length" and d1.status == 200
    # B3 followed the 302 to the CDN; its wrong product-list size is only flagged.
    b3 = main.item(B3)
    assert b3["http"]["final_url"].startswith(main.cdn.base_url)
    assert b3["metadata"]["size_listed_matches"] is False and b3["metadata"]["size"] == 41_000
    assert main.item(A1)["metadata"]["size_listed_matches"] is True


def test_files_without_md5_are_size_checked_and_bad_ones_quarantined(main: Main) -> None:
    stats = main.result.stats
    assert stats["jwst_mast/viz/malformed_json"] == 1
    assert stats["jwst_mast/viz/http_404"] == 2
    assert stats["jwst_mast/viz/empty"] == 1
    for name in (D2, D3, D5):
        item, blob = main.item(name), main.blob(name)
        assert item["status"] == "stored" and item["sha256"] == blob.sha256
        assert item["checksum"]["algorithm"] is None and item["checksum"]["verified"] is None
        assert item["expected_size"] == blob.size  # the product-list size
        assert f"No md5 for JWST/product/{name}" in main.result.log
    d4 = main.item(D4)
    assert d4["status"] == "quarantined" and "size mismatch" in d4["error"]
    assert d4["expected_size"] == 19_000
    b1, blob = main.item(B1), main.blob(B1)
    assert b1["status"] == "quarantined" and "md5 mismatch" in b1["error"]
    assert b1["checksum"]["actual"] == blob.md5 and b1["checksum"]["verified"] is False
    # One whole re-transfer each, then quarantine; never published.
    for name in (B1, D4):
        query = uri_query(f"mast:JWST/product/{name}")
        assert len([e for e in main.server.requests_for(DOWNLOAD) if e.query == query]) == 2
        assert not (main.result.data_dir / main.item(name)["path"]).exists()
        assert (main.result.data_dir / "quarantine" / main.item(name)["path"]).exists()


def test_catalog_carries_observation_and_product_metadata(main: Main) -> None:
    rows = {r["archive_path"]: r for r in catalog_rows(main.result.data_dir)}
    assert set(rows) == {path_of(f) for f in EXPECTED}
    meta = json.loads(rows[path_of(A1)]["file_metadata"])
    assert {k: meta[k] for k in ("obs_id", "obsid", "instrument_name", "target_name")} == {
        "obs_id": "jw01366-o001_t001_nirspec",
        "obsid": OBSIDS["A"],
        "instrument_name": "NIRSPEC/SLIT",
        "target_name": "WASP-39",
    }
    assert meta["proposal_id"] == "1366" and meta["proposal_pi"] == "Batalha, Natalie"
    assert meta["calib_level"] == 3 and meta["obs_calib_level"] == 3
    assert meta["productType"] == "SCIENCE" and meta["productSubGroupDescription"] == "X1D"
    assert meta["dataURI"] == f"mast:JWST/product/{A1}" and meta["dataproduct_type"] == "spectrum"
    assert meta["t_min"] == 59791.1 and meta["t_max"] == 59791.5
    # 30 000 bytes asked for, 11 whole FITS blocks served.
    assert meta["fileSize"] == 31_680 and meta["fits"] == {
        "TELESCOP": "JWST",
        "INSTRUME": "NIRSPEC",
        "DATE-OBS": "2022-07-10",
    }
    assert rows[path_of(A1)]["digest_source"] == VIZ and rows[path_of(A1)]["verified"] == 1
    assert json.loads(rows[path_of(D1)]["file_metadata"])["instrument_name"] == "NIRSPEC"


def test_token_reaches_only_mast_hosts_and_is_never_written(main: Main) -> None:
    mast_requests = main.server.log
    assert mast_requests and all(
        e.headers.get("authorization") == f"token {TOKEN}" for e in mast_requests
    )
    cdn_requests = main.cdn.log
    assert [e.path for e in cdn_requests] == [f"/stpubdata/jwst/public/{B3}"]
    assert all("authorization" not in e.headers for e in cdn_requests)
    assert TOKEN not in main.result.log
    assert TOKEN not in json.dumps(main.result.items)
    secret = TOKEN.encode()
    for path in main.result.data_dir.parent.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path


def test_without_token_only_public_products_and_endless_executing_gives_up(
    server: ArchiveServer, data_dir: Path
) -> None:
    mast = MastArchive(server)
    ok = mast.add_observation("91000001", "jw02589-o001_t001_nirspec")
    stuck = mast.add_observation("91000002", "jw02589-o002_t001_nirspec")
    public = mast.add_product(ok, "jw02589-o001_t001_nirspec_x1d.fits", subgroup="X1D")
    mast.add_product(
        ok, "jw02589-o001_t002_nirspec_x1d.fits", subgroup="X1D", rights="EXCLUSIVE_ACCESS"
    )
    mast.add_product(stuck, "jw02589-o002_t001_nirspec_x1d.fits", subgroup="X1D")
    mast.stuck_obsids = {"91000002"}
    result = run_crawl(
        "jwst_mast",
        data_dir,
        args={
            "base_url": mast.install(),
            "target": "WASP-39",
            "batch_size": "1",
            "max_polls": "3",
            "verify_md5": "0",
        },
        env={"MAST_API_TOKEN": ""},
    )
    assert result.returncode == 0, result.log[-3000:]
    item = result.by_path()[path_of(public.row["productFilename"])]
    assert result.statuses() == {item["archive_path"]: "stored"}
    assert item["checksum"]["algorithm"] is None and item["expected_size"] == public.blob.size
    stats = result.stats
    assert stats["jwst_mast/products/skipped/not_public"] == 1
    assert stats["jwst_mast/portal/gave_up_executing"] == 1
    assert "obsid 91000002 page 1: still EXECUTING after 3 polls" in result.log
    assert [c["params"]["obsid"] for c in mast.calls(PRODUCTS)].count("91000002") == 4
    assert not server.requests_for(VIZ_KEYWORDS)
    assert all("authorization" not in e.headers for e in server.log)


def test_real_mast_samples(server: ArchiveServer, data_dir: Path) -> None:
    """The recorded JWST observation, its two real product rows and the real viz answer: the
    real md5 is what the file is checked against (our stand-in bytes do not match it)."""
    observation = json.loads(sample_path("mast", "jwst_viz_parameters_uri_x1d.json").read_text())
    listing = json.loads(sample_path("mast", "jwst_viz_products_uri_x1d_level3.json").read_text())
    viz = sample_path("mast", "jwst_viz_keywords_search_uri_x1d.json").read_bytes()
    sample_path("mast", "caom_filtered.json")  # the envelope's field list comes from it
    mast = MastArchive(server)
    obs = {k: observation.get(k) for k in (f["name"] for f in mast.obs_fields)}
    mast.observations.append(obs)
    rows = {r["productSubGroupDescription"]: r for r in listing[observation["obs_id"]]}
    x1d = mast.add_product(
        obs,
        rows["X1D"]["productFilename"],
        subgroup="X1D",
        row=rows["X1D"],
        blob=fits_blob("x1d", rows["X1D"]["size"], TELESCOP="JWST"),
    )
    x1d.viz_body = viz
    s3d = mast.add_product(
        obs,
        rows["S3D"]["productFilename"],
        subgroup="S3D",
        row=rows["S3D"],
        blob=Blob("s3d", rows["S3D"]["size"]),  # 370 MB, lazily generated, never fetched
    )
    result = run_crawl(
        "jwst_mast",
        data_dir,
        args={
            "base_url": mast.install(),
            "instrument": "MIRI",
            "target": "NGC6552",
            "subgroups": "X1D",
        },
    )
    assert result.returncode == 0, result.log[-3000:]
    (item,) = result.items
    assert item["archive_path"] == "JWST/product/jw01039-o004_t001_miri_ch3-long_x1d.fits"
    assert item["checksum"]["expected"] == "988f90cad25ebfcae20481d6d7aa35e1"
    assert item["checksum"]["source"] == VIZ and item["expected_size"] == 190080
    assert item["status"] == "quarantined" and "md5 mismatch" in item["error"]
    meta = item["metadata"]
    assert meta["obs_id"] == "jw01039-o004_t001_miri_ch3-long" and meta["obsid"] == "83209967"
    assert meta["instrument_name"] == "MIRI" and meta["target_name"] == "NGC6552"
    assert meta["proposal_pi"] == "Dicken, Daniel" and meta["proposal_id"] == "1039"
    assert meta["productSubGroupDescription"] == "X1D" and meta["calib_level"] == 3
    assert meta["ingestCompletionDate"] == json.loads(viz)["ingestCompletionDate"]
    # the recorded rows carry no program DOI: the citation names the program, never a DOI
    cit = item["citation"]
    assert "doi" not in cit and cit["title"] == observation["obs_title"]
    assert cit["authors"] == ["Dicken, Daniel"] and cit["year"] == 2022  # MJD 59774.85
    assert {"type": "JWST program (proposal_id)", "value": "1039"} in cit["identifiers"]
    assert cit["text"].endswith("associated with program #1039.")
    assert result.stats["jwst_mast/products/skipped/subgroup"] == 1
    assert not [e for e in server.log if s3d.row["productFilename"] in e.query]


def test_no_arguments_captures_the_mission_default(tmp_path: Path, data_dir: Path) -> None:
    """``scrapy crawl jwst_mast`` with only base_url: four instrument queries for calibrated
    spectra, time series and cubes; the default subgroups of public SCIENCE products."""
    with ArchiveServer() as server:
        extra = default_archive(server, tmp_path)
        assert extra == {}
        result = run_crawl("jwst_mast", data_dir, args={"base_url": server.base_url})
        assert result.returncode == 0, result.log[-3000:]
        mast_calls = server.requests_for(INVOKE)
    assert mast_calls
    stored = {
        i["archive_path"].removeprefix("JWST/product/")
        for i in result.items
        if i["status"] == "stored"
    }
    assert stored == {
        "jw01366-o001_t001_nirspec_clear-prism_x1d.fits",
        "jw02734-o002_t001_niriss_clear-gr700xd_x1dints.fits",
        "jw02734002001_04101_00001-seg001_nis_calints.fits",
        "jw01039-o004_t001_miri_ch3-long_s3d.fits",
        "jw01039-o004_t001_miri_ch3-long_x1d.fits",
        "jw01366-o004_t001_nircam_f322w2-grismr_x1dints.fits",
    }
    assert len(result.items) == len(stored)
    for item in result.items:
        assert item["checksum"]["verified"] is True and item["checksum"]["algorithm"] == "md5"
        assert item["quality"]["score"] >= 0.9, item["quality"]
        assert (data_dir / item["path"]).is_file()
    stats = result.stats
    assert stats["jwst_mast/products/skipped/subgroup"] == 1  # the S2D
    assert stats["jwst_mast/products/skipped/product_type"] == 1  # the association JSON
    assert stats["jwst_mast/observations"] == 4  # the NIRCam image observation is not asked


def test_declared_parameters() -> None:
    """The pydantic model: mission defaults, one field per CAOM column and alias, one-line
    errors naming the argument."""
    model = JwstMastSpider.param_model()
    assert set(COLUMN_ARGS) <= set(model.model_fields)
    assert {*ALIASES, *COLUMNS} - set(model.model_fields) == {"obs_collection"}
    args = model()
    assert args.instrument == ["NIRSPEC", "NIRISS", "MIRI", "NIRCAM"]
    assert args.dataproduct_type == ["spectrum", "timeseries", "cube"]
    assert args.calib_level == ["2", "3"] and args.target == []
    assert args.subgroups == ["X1D", "X1DINTS", "C1D", "S3D", "CALINTS"]
    assert args.product_type == ["SCIENCE"] and args.verify_md5 is True
    assert (args.pagesize, args.batch_size, args.max_polls) == (50000, 500, 60)

    spider = JwstMastSpider()
    assert [q[1]["freeText"] for q in spider.queries] == ["NIRSPEC%", "NIRISS%", "MIRI%", "NIRCAM%"]
    assert all(
        q[0] == {"paramName": "obs_collection", "separator": ";", "values": ["JWST"]}
        and q[2:]
        == [
            {"paramName": "calib_level", "values": ["2", "3"]},
            {"paramName": "dataproduct_type", "values": ["spectrum", "timeseries", "cube"]},
        ]
        for q in spider.queries
    )
    assert spider.products.calib_levels == {2, 3} and spider.products.product_types == {"SCIENCE"}

    # Any column by its CAOM name; a given column replaces its default; 'all' drops one.
    spider = JwstMastSpider(
        instrument_name="NIRSPEC/IFU",
        intentType="science",
        t_min="59000,60000",
        calib_level="all",
        subgroups="x1d",
        verify_md5="no",
        batch_size="20",
    )
    assert spider.criteria == {
        "obs_collection": ["JWST"],
        "instrument_name": ["NIRSPEC/IFU"],
        "dataproduct_type": ["spectrum", "timeseries", "cube"],
        "intentType": ["science"],
        "t_min": ["59000", "60000"],
    }
    assert spider.products.subgroups == {"X1D"} and spider.products.calib_levels is None
    assert spider.verify_md5 is False and spider.batch_size == 20

    for bad, message in (
        ({"calib_level": "three"}, "jwst_mast: calib_level: must be integers"),
        ({"t_max": "1"}, "jwst_mast: t_max: must be 'min,max' numbers, got '1'"),
        ({"pagesize": "0"}, "jwst_mast: pagesize must be a positive integer, got '0'"),
        ({"verify_md5": "maybe"}, "jwst_mast: verify_md5: must be one of 1/0"),
        ({"obs_collection": "HST"}, "jwst_mast: obs_collection is fixed to JWST"),
        ({"telescope": "JWST"}, "jwst_mast: unknown argument 'telescope'"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            JwstMastSpider.check_args(bad)
        assert str(err.value).startswith(message) and "\n" not in str(err.value), err.value
