"""Readers of Exoplanet Archive TAP results: the archive's real quoting rules, malformed
answers, in-band error documents, VOTable and IPAC files."""

from __future__ import annotations

from pathlib import Path

import pytest

from capture.formats.tap_results import (
    TableProblem,
    error_in,
    parse_count,
    read_rows,
    summarize_delimited,
    summarize_ipac,
    summarize_votable,
)
from capture.formats.tapcsv import split_record
from spiders.base import SpiderArgumentError
from spiders.nasa_exoplanet_archive import NasaExoplanetArchiveSpider
from tests.archives.nasa_exoplanet_archive import (
    error_reply,
    ipac_spectrum,
    synthetic_tables,
    write_votable,
)
from tests.archives.samples import sample_path


def write(tmp_path: Path, text: str | bytes, name: str = "t.csv") -> str:
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode()
    path.write_bytes(text)
    return str(path)


@pytest.mark.parametrize(
    ("record", "fields"),
    [
        ('"Kepler-11 c","Transit"', ["Kepler-11 c", "Transit"]),
        ('"7515212","K00679.02"', ["7515212", "K00679.02"]),
        # A quoted value with commas (refnames), numbers bare, NULL empty.
        (
            '"<a href=x>Smith et al., 2010</a>",5777.000000,,"b"',
            ["<a href=x>Smith et al., 2010</a>", "5777.000000", "", "b"],
        ),
        # The archive does not escape quotes inside values: a value ends at '",' or '"<EOL>'.
        ('"seen with 5" aperture, "odd" check",1', ['seen with 5" aperture, "odd" check', "1"]),
        ('"a""b",2', ['a""b', "2"]),
        ("x,", ["x", ""]),
        ("", [""]),
    ],
)
def test_split_record_follows_the_archive_quoting(record: str, fields: list[str]) -> None:
    assert split_record(record) == fields


@pytest.mark.parametrize(
    ("name", "columns", "rows"),
    [
        ("tap_k2names_all_columns.csv", ["epic_id", "k2_name", "pl_name"], 449),
        ("tap_keplernames_pl_name.csv", ["pl_name"], 2414),
        ("tap_keplernames_top5.csv", ["kepid", "koi_name", "kepler_name", "pl_name"], 5),
        ("tap_ps_pl_name_discoverymethod.head300.csv", ["pl_name", "discoverymethod"], 300),
    ],
)
def test_real_recorded_csv_bodies(name: str, columns: list[str], rows: int) -> None:
    summary = summarize_delimited(str(sample_path("nasa_exoplanet_archive", name)), ",")
    assert summary.columns == columns and summary.row_count == rows


def test_real_rows_are_unquoted() -> None:
    path = sample_path("nasa_exoplanet_archive", "tap_keplernames_top5.csv")
    first = next(read_rows(str(path)))
    assert first == {
        "kepid": "7515212",
        "koi_name": "K00679.02",
        "kepler_name": "Kepler-212 b",
        "pl_name": "Kepler-212 b",
    }


def test_multi_line_value_is_one_record(tmp_path: Path) -> None:
    summary = summarize_delimited(write(tmp_path, 'a,b\n"line one\nline two",1\n"x",2\n'), ",")
    assert summary.row_count == 2


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('a,b\n"x",1\n"y"\n', "1 ragged row(s): line 3: 1 fields, header has 2"),
        ('a\n"x"\n"never closed\n', "line 3: unterminated quoted value"),
        ("", "empty result"),
        (
            '{\n    "status": "error",\n    "msg": "ORA-00942: table or view does not exist"\n}\n',
            "TAP error from the archive: ORA-00942: table or view does not exist",
        ),
        ("<!DOCTYPE html><html><body>Service down</body></html>", "HTML page"),
    ],
)
def test_malformed_csv_is_a_clear_problem(tmp_path: Path, body: str, reason: str) -> None:
    with pytest.raises(TableProblem) as problem:
        summarize_delimited(write(tmp_path, body), ",")
    assert reason in str(problem.value)


def test_tsv_is_split_on_tabs_only(tmp_path: Path) -> None:
    summary = summarize_delimited(write(tmp_path, 'a\tb\n"x, y"\t2\n\t\n'), "\t")
    assert summary.columns == ["a", "b"] and summary.row_count == 2
    with pytest.raises(TableProblem, match="ragged"):
        summarize_delimited(write(tmp_path, "a\tb\n1\t2\t3\n"), "\t")


def test_error_documents_of_both_kinds() -> None:
    vot = error_reply("votable", "ADQL syntax error near: selec").body
    assert error_in(vot) == "ADQL syntax error near: selec"
    # The server does not escape quotes inside msg: still recognised.
    assert error_in(b'{"status": "error", "msg": "bad "x" column"}') == 'bad "x" column'
    assert error_in(b'pl_name\n"a"\n') is None


def test_votable_layout_of_the_archive_writer(tmp_path: Path) -> None:
    table = synthetic_tables()["ps"]
    path = write(tmp_path, write_votable(table, table.columns, table.rows), "t.vot")
    summary = summarize_votable(path)
    assert summary.columns == [c.name for c in table.columns]
    assert summary.row_count == len(table.rows)
    assert summary.meta["query_status"] == "OK"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (error_reply("votable", "ORA-00904: invalid identifier").body, "ORA-00904"),
        (
            b'<?xml version="1.0"?><VOTABLE><RESOURCE><TABLE><FIELD name="a"/>'
            b"<DATA><TABLEDATA><TR><TD>1</TD><TD>2</TD></TR></TABLEDATA></DATA>",
            "not well-formed",
        ),
        (
            b'<?xml version="1.0"?><VOTABLE><RESOURCE><INFO name="QUERY_STATUS" value="OVERFLOW"/>'
            b"</RESOURCE></VOTABLE>",
            "OVERFLOW",
        ),
        (
            b'<?xml version="1.0"?><VOTABLE><RESOURCE><TABLE><FIELD name="a"/><FIELD name="b"/>'
            b"<DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
            "wrong cell count",
        ),
        (b"pl_name\n", "not well-formed"),
    ],
)
def test_bad_votables(tmp_path: Path, body: bytes, reason: str) -> None:
    with pytest.raises(TableProblem, match=reason):
        summarize_votable(write(tmp_path, body, "t.vot"))


def test_count_answers() -> None:
    assert parse_count(b"count(*)\n39212\n") == 39212
    assert parse_count(b'count(*)\n"17"\n') == 17
    assert parse_count(b"count(*)\n3.9212e+04\n") == 39212
    assert parse_count(b'{"status": "error", "msg": "x"}') is None
    assert parse_count(b"count(*)\n") is None


def test_ipac_files(tmp_path: Path) -> None:
    summary = summarize_ipac(write(tmp_path, ipac_spectrum("K2-18 b", "Transmission", 6), "s.tbl"))
    assert summary.row_count == 6 and summary.columns[0] == "CENTRALWAVELNG"
    assert summary.meta["keywords"]["SPEC_TYPE"] == "Transmission"
    real = summarize_ipac(
        str(sample_path("nasa_exoplanet_archive", "nstedapi_cumulative_kepid10601284.ipac.txt"))
    )
    assert real.row_count >= 1 and "kepid" in real.columns
    with pytest.raises(TableProblem, match="not a readable IPAC table"):
        summarize_ipac(write(tmp_path, "Error: workspace expired\n", "e.tbl"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"products": "kelttimeseries"}, "no file path column"),
        ({"products": "images"}, "products: must be among spectra, got 'images'"),
        ({"format": "json"}, "format: Input should be 'csv', 'tsv' or 'votable', got 'json'"),
        ({"tables": "ps;drop table x"}, "not a table name"),
    ],
)
def test_spider_arguments_are_checked(args: dict[str, str], message: str) -> None:
    with pytest.raises(SpiderArgumentError, match=message):
        NasaExoplanetArchiveSpider(**args)


def test_tap_url_encoding_matches_the_archive_clients() -> None:
    spider = NasaExoplanetArchiveSpider(base_url="https://exoplanetarchive.ipac.caltech.edu")
    assert spider.tap_url("select pl_name,hostname,st_teff from pscomppars", "csv") == (
        "https://exoplanetarchive.ipac.caltech.edu/TAP/sync"
        "?query=select+pl_name,hostname,st_teff+from+pscomppars&format=csv"
    )
