"""End-to-end crawls of the NASA Exoplanet Archive spider against its TAP emulator (real
sockets, real ``scrapy crawl`` processes). One crawl per output format; each crawl mixes good
tables with broken ones so that every failure is shown not to stop the other files."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from spiders.base import SpiderArgumentError
from spiders.nasa_exoplanet_archive import NasaExoplanetArchiveSpider
from tests.archives import ArchiveServer
from tests.archives.nasa_exoplanet_archive import (
    ExoplanetArchive,
    default_archive,
    write_delimited,
    write_votable,
)
from tests.archives.samples import sample_path
from tests.crawl import STABLE_FIELDS, CrawlResult, catalog_rows, run_crawl, sha256_of

CORE = ("ps", "pscomppars", "stellarhosts", "toi")


@pytest.fixture
def exo(server: ArchiveServer) -> ExoplanetArchive:
    return ExoplanetArchive(server)


def file_meta(data_dir: Path, archive_path: str) -> dict:
    (row,) = catalog_rows(data_dir, "select * from files where archive_path=?", archive_path)
    return row | {"meta": json.loads(row["file_metadata"] or "{}")}


def crawl(exo: ExoplanetArchive, data_dir: Path, **args: str) -> CrawlResult:
    result = run_crawl("nasa_exoplanet_archive", data_dir, args={"base_url": exo.base_url, **args})
    assert result.returncode == 0, result.log[-3000:]
    return result


def add_broken_tables(exo: ExoplanetArchive) -> None:
    """Real table names whose answers the emulator corrupts (or does not know)."""
    exo.tables["ml"] = copy.deepcopy(exo.tables["stellarhosts"])
    exo.malform("ml", "ragged")
    exo.tables["k2pandc"] = copy.deepcopy(exo.tables["toi"])
    exo.malform("k2pandc", "unterminated")
    exo.tables["cumulative"] = copy.deepcopy(exo.tables["ps"])
    exo.malform("cumulative", "cut")


def test_csv_tables_products_and_malformed_answers(exo: ExoplanetArchive, data_dir: Path) -> None:
    add_broken_tables(exo)
    good = [
        exo.add_spectrum(
            "56/12/36/06/Kepler_20_c_3.101_3665_1.tbl", "Kepler-20 c", "Transmission", 9
        ),
        exo.add_spectrum("11/02/77/01/HD_189733_b_2.2_10_1.tbl", "HD 189733 b", "Eclipse", 5),
    ]
    broken = exo.add_spectrum("11/02/77/02/WASP_39_b_1.tbl", "WASP-39 b", "Transmission", 4)
    broken.body = b"\\PL_NAME = 'WASP-39 b'\n|CENTRALWAVELNG|\n|double|\n 1.0 2.0 3.0\n"
    tables = [*CORE, "ml", "k2pandc", "cumulative", "nosuchtable"]
    result = crawl(exo, data_dir, tables=",".join(tables), products="spectra")

    items = result.by_path()
    for item in result.items:
        assert set(item) >= STABLE_FIELDS, item["archive_path"]
        assert item["archive"] == "nasa_exoplanet_archive" and item["domain"] == "astronomy"
    # Good tables: stored whole, byte for byte what the archive sent, shape in the catalog.
    for table in CORE:
        item = items[f"TAP/sync/{table}.csv"]
        assert item["status"] == "stored", item["error"]
        assert item["format"] == "csv"
        assert item["url"] == f"{exo.base_url}/TAP/sync?query=select+*+from+{table}&format=csv"
        body, _ = exo.body_for(f"select * from {table}", "csv")
        assert (
            item["sha256"] == hashlib.sha256(body).hexdigest() == sha256_of(data_dir / item["path"])
        )
        meta = file_meta(data_dir, f"TAP/sync/{table}.csv")["meta"]
        source = exo.tables[table]
        assert meta["row_count"] == meta["reported_row_count"] == len(source.rows)
        assert meta["columns"] == [c.name for c in source.columns]
        assert meta["query"] == f"select * from {table}"
    assert {"st_teff", "st_logg", "st_met"} <= set(
        file_meta(data_dir, "TAP/sync/stellarhosts.csv")["meta"]["columns"]
    )
    # The wire: count first, then the table, encoded as the archive's clients do it.
    queries = [e.query for e in exo.server.requests_for("/TAP/sync")]
    assert "query=select+count(*)+from+ps&format=csv" in queries
    assert "query=select+*+from+ps&format=csv" in queries

    # Broken answers: quarantined with a reason a person can act on; nothing published.
    reasons = {
        "ml": "ragged row",
        "k2pandc": "unterminated quoted value",
        "cumulative": "row count mismatch: the archive reports 27 rows",
        "nosuchtable": "TAP error from the archive: ORA-00942",
    }
    for table, reason in reasons.items():
        item = items[f"TAP/sync/{table}.csv"]
        assert item["status"] == "quarantined", table
        assert reason in item["error"], (table, item["error"])
        assert not (data_dir / item["path"]).exists()
        reason_file = data_dir / "quarantine" / (item["path"] + ".reason.json")
        assert reason in reason_file.read_text()
        assert file_meta(data_dir, item["archive_path"])["state"] == "quarantined"

    # Products: spectra files listed by the spectra table's spec_path, fetched via the
    # session workspace, with the table's columns as metadata and their own shape checked.
    for spectrum in good:
        item = items[f"spectra/{spectrum.spec_path}"]
        assert item["status"] == "stored", item["error"]
        assert f"/workspace/{exo.token}/atmospheres/tab1/data/" in item["url"]
        assert item["sha256"] == hashlib.sha256(spectrum.body).hexdigest()
        meta = file_meta(data_dir, item["archive_path"])["meta"]
        assert meta["pl_name"] == spectrum.pl_name and meta["spec_type"] == spectrum.spec_type
        assert meta["row_count"] == spectrum.points and meta["datapoints_match"] is True
        assert meta["keywords"]["PL_NAME"] == spectrum.pl_name
    bad = items[f"spectra/{broken.spec_path}"]
    assert bad["status"] == "quarantined" and "not a readable IPAC table" in bad["error"]
    assert len(result.items) == len(tables) + 3


def test_votable_and_tsv_formats(exo: ExoplanetArchive, tmp_path: Path) -> None:
    exo.tables["ml"] = copy.deepcopy(exo.tables["stellarhosts"])
    exo.malform("ml", "ragged")
    vot = crawl(exo, tmp_path / "vot", tables="ps,toi,nosuchtable", format="votable")
    items = vot.by_path()
    for table in ("ps", "toi"):
        item = items[f"TAP/sync/{table}.vot"]
        assert item["status"] == "stored" and item["format"] == "votable"
        assert item["url"].endswith(f"query=select+*+from+{table}&format=votable")
        source = exo.tables[table]
        expected = write_votable(source, source.columns, source.rows).encode()
        assert item["sha256"] == hashlib.sha256(expected).hexdigest()
        meta = file_meta(tmp_path / "vot", item["archive_path"])["meta"]
        assert meta["row_count"] == meta["reported_row_count"] == len(source.rows)
        assert meta["columns"] == [c.name for c in source.columns]
    error = items["TAP/sync/nosuchtable.vot"]
    assert error["status"] == "quarantined" and "ORA-00942" in error["error"]

    tsv = crawl(exo, tmp_path / "tsv", tables="stellarhosts,ml", format="tsv")
    items = tsv.by_path()
    source = exo.tables["stellarhosts"]
    good = items["TAP/sync/stellarhosts.tsv"]
    assert good["status"] == "stored" and good["format"] == "tsv"
    assert (
        good["sha256"]
        == hashlib.sha256(
            write_delimited(source, source.columns, source.rows, "tsv").encode()
        ).hexdigest()
    )
    assert file_meta(tmp_path / "tsv", "TAP/sync/stellarhosts.tsv")["meta"]["row_count"] == 14
    assert items["TAP/sync/ml.tsv"]["status"] == "quarantined"
    assert "ragged row" in items["TAP/sync/ml.tsv"]["error"]


def test_real_recorded_table_and_unchanged_recrawl(exo: ExoplanetArchive, data_dir: Path) -> None:
    """The real k2names body (ropensci/exoplanets recording) served for its real query."""
    exo.use_real_samples()
    sample = sample_path("nasa_exoplanet_archive", "tap_k2names_all_columns.csv")
    first = crawl(exo, data_dir, tables="k2names")
    (item,) = first.items
    assert item["status"] == "stored"
    assert item["url"] == f"{exo.base_url}/TAP/sync?query=select+*+from+k2names&format=csv"
    assert item["sha256"] == sha256_of(sample) == sha256_of(data_dir / item["path"])
    meta = file_meta(data_dir, "TAP/sync/k2names.csv")["meta"]
    assert meta["columns"] == ["epic_id", "k2_name", "pl_name"]
    assert meta["row_count"] == meta["reported_row_count"] == 449
    # The same table again: fetched (no validators exist for query results), same bytes.
    second = crawl(exo, data_dir, tables="k2names")
    assert second.statuses() == {"TAP/sync/k2names.csv": "unchanged"}
    assert len(catalog_rows(data_dir)) == 1


def test_no_arguments_captures_the_core_tables_and_spectra(tmp_path: Path, data_dir: Path) -> None:
    """``scrapy crawl nasa_exoplanet_archive`` with only base_url: ps, pscomppars,
    stellarhosts and spectra as CSV, and every spectrum file the spectra table lists."""
    with ArchiveServer() as server:
        assert default_archive(server, tmp_path) == {}
        result = run_crawl("nasa_exoplanet_archive", data_dir, args={"base_url": server.base_url})
        queries = [e.query for e in server.requests_for("/TAP/sync")]
    assert result.returncode == 0, result.log[-3000:]
    expected = {f"TAP/sync/{t}.csv" for t in ("ps", "pscomppars", "stellarhosts", "spectra")}
    expected |= {
        "spectra/11/02/77/02/WASP_39_b_1.tbl",
        "spectra/11/02/77/01/HD_189733_b_2.2_10_1.tbl",
        "spectra/44/05/12/03/TRAPPIST_1_e_1.tbl",
    }
    assert result.statuses() == dict.fromkeys(expected, "stored")
    for item in result.items:
        assert item["quality"]["score"] >= 0.9, item["quality"]
        assert (data_dir / item["path"]).is_file()
    assert "query=select+*+from+toi&format=csv" not in queries
    assert "query=select+count(*)+from+spectra&format=csv" in queries
    meta = file_meta(data_dir, "TAP/sync/spectra.csv")["meta"]
    assert meta["row_count"] == meta["reported_row_count"] == 3
    # the table DOIs the archive publishes (docs/doi.html); no DOI where none is confirmed
    items = result.by_path()
    assert items["TAP/sync/ps.csv"]["citation"]["doi"] == "10.26133/NEA12"
    assert items["TAP/sync/pscomppars.csv"]["citation"]["doi"] == "10.26133/NEA13"
    for path in ("TAP/sync/stellarhosts.csv", "spectra/44/05/12/03/TRAPPIST_1_e_1.tbl"):
        cit = items[path]["citation"]
        assert "doi" not in cit and cit["text"].startswith("This research has made use of")
    rows = catalog_rows(data_dir, "select archive_path, citation_doi from files")
    assert {r["archive_path"]: r["citation_doi"] for r in rows}["TAP/sync/ps.csv"] == (
        "10.26133/NEA12"
    )


def test_declared_parameters() -> None:
    spider_cls = NasaExoplanetArchiveSpider
    args = spider_cls.param_model()()
    assert args.tables == ["ps", "pscomppars", "stellarhosts", "spectra"]
    assert args.format == "csv" and args.products == ["spectra"]
    spider = spider_cls(tables="toi, ps", format="TSV", products="none")
    assert spider.tables == ["toi", "ps"] and spider.format == "tsv" and spider.products == []
    assert spider_cls(products="").products == []
    for bad, message in (
        ({"format": "fits"}, "format: Input should be 'csv', 'tsv' or 'votable', got 'fits'"),
        ({"tables": "ps,1x"}, "tables: not a table name: '1x'"),
        ({"tables": ","}, "tables: give at least one table"),
        ({"products": "ukirttimeseries"}, "products: ukirttimeseries: the archive's TAP table"),
        ({"products": "spectrum"}, "products: must be among spectra, got 'spectrum'"),
        ({"table": "ps"}, "unknown argument 'table'"),
    ):
        with pytest.raises(SpiderArgumentError) as err:
            spider_cls.check_args(bad)
        text = str(err.value)
        assert text.startswith(f"nasa_exoplanet_archive: {message}") and "\n" not in text, text


def test_dry_run_plans_table_sizes_from_row_count_times_row_width(
    tmp_path: Path, data_dir: Path
) -> None:
    """TAP answers have no size before the query runs: a dry run plans each table as
    count(*) rows times the mean width of a 20-row sample, within 25% of the real size."""
    import urllib.request

    with ArchiveServer() as server:
        default_archive(server, tmp_path)
        spider = NasaExoplanetArchiveSpider(base_url=server.base_url)
        real = {}
        for table in ("ps", "pscomppars", "stellarhosts"):
            with urllib.request.urlopen(spider.tap_url(f"select * from {table}", "csv")) as r:
                real[table] = len(r.read())
        result = run_crawl(
            "nasa_exoplanet_archive",
            data_dir,
            args={"base_url": server.base_url, "products": ""},
            settings={"CAPTURE_DRY_RUN": "True"},
        )
        tables = [
            e
            for e in server.log
            if "select+*+from" in e.query
            and "top" not in e.query
            and "capture/" in e.headers.get("user-agent", "")
        ]
    assert result.returncode == 0, result.log[-3000:]
    assert tables == []  # no table body was fetched
    stats = result.stats
    assert stats["capture/planned_sized_by/estimate"] == 4
    planned = stats["capture/planned_bytes"]
    assert planned > 0
    assert abs(planned - sum(real.values())) <= 0.25 * sum(real.values()) + 2048
