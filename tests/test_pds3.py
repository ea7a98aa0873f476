"""Unit tests of the PDS3 label / checksum-manifest parsers and the node's listing parser."""

from __future__ import annotations

import pytest

from capture.formats.pds3 import (
    LabelError,
    manifest_lookup,
    parse_label,
    parse_md5_manifest,
    parse_value,
    read_attached_label,
)
from spiders.pds_gravity import listing_entries, shadr_header
from tests.archives.pds_gravity import attached_product, shadr_label, shadr_table

KW = {"target": "MARS", "host": "MRO", "data_set_id": "MRO-M-RSS-5-SDP-V1.0"}


def test_detached_shadr_label() -> None:
    label = parse_label(shadr_label("jgmro_110b_sha.tab", 46, **KW))
    assert label.get("RECORD_TYPE") == "FIXED_LENGTH" and label.int("RECORD_BYTES") == 122
    assert label.expected_size == 46 * 122
    assert label.data_files() == ["JGMRO_110B_SHA.TAB"]
    assert label.pointers["SHADR_COEFFICIENTS_TABLE"].record == 3
    assert label.get("DESCRIPTION").startswith("Spherical harmonic gravity model written")
    coefficients = label.find_object("SHADR_COEFFICIENTS_TABLE")
    assert coefficients is not None and coefficients.keywords["ROWS"] == 44
    assert [c.keywords["NAME"] for c in coefficients.children][:2] == [
        "COEFFICIENT DEGREE",
        "COEFFICIENT ORDER",
    ]


def test_attached_label_at_the_head_of_a_product() -> None:
    data = attached_product("shgj006u.a01", shadr_table(6051.0, 324858.59, 6), **KW)
    label = read_attached_label(data[:65536])
    records = label.int("LABEL_RECORDS")
    assert records and label.pointers["SHADR_HEADER_TABLE"].file is None
    assert label.pointers["SHADR_HEADER_TABLE"].record == records + 1
    assert label.expected_size == len(data)
    header = data[records * 122 : records * 122 + 137]
    assert shadr_header(header)["degree"] == 6


def test_values_and_non_labels() -> None:
    assert parse_value("122 <BYTES>") == 122 and parse_value("-1.5E+03") == -1500.0
    assert parse_value('("X.TAB", 100 <BYTES>)') == ("X.TAB", 100)
    assert parse_value('{"a", "b"}') == ["a", "b"] and parse_value("2016-05-06") == "2016-05-06"
    label = parse_label('PDS_VERSION_ID = PDS3\n^TABLE = ("X.TAB", 512 <BYTES>)\nEND\n')
    assert label.pointers["TABLE"].offset == 512 and label.expected_size is None
    with pytest.raises(LabelError):
        parse_label("<html><body>Not Found</body></html>")
    with pytest.raises(LabelError):
        parse_label("TITLE = x\n")  # no END


def test_md5_manifests_in_both_published_styles() -> None:
    md5deep = "0123456789abcdef0123456789abcdef  \\DATA\\SHADR\\JGMRO_110B_SHA.TAB\r\n"
    md5sum = "fedcba9876543210fedcba9876543210 *grail_1001/shadr/gggrx_0010a_sha.tab\n"
    quoted = '"00000000000000000000000000000001","INDEX/INDEX.TAB"\n'
    sums = parse_md5_manifest("PDS_VERSION_ID = PDS3\n" + md5deep + md5sum + quoted)
    assert sums == {
        "data/shadr/jgmro_110b_sha.tab": "0123456789abcdef0123456789abcdef",
        "grail_1001/shadr/gggrx_0010a_sha.tab": "fedcba9876543210fedcba9876543210",
        "index/index.tab": "00000000000000000000000000000001",
    }
    assert manifest_lookup(sums, "data/shadr/jgmro_110b_sha.tab").startswith("0123")
    assert manifest_lookup(sums, "shadr/gggrx_0010a_sha.tab").startswith("fedc")
    assert manifest_lookup(sums, "shadr/missing.tab") is None
    twins = {"a/x/f.tab": "1" * 32, "b/x/f.tab": "2" * 32}
    assert manifest_lookup(twins, "x/f.tab") is None  # ambiguous tail: no guess


def test_iis_listing_gives_exact_sizes() -> None:
    page = (
        "<html><head><title>pds-geosciences.wustl.edu - /mro/x/</title></head><body><pre>"
        '<A HREF="/mro/">[To Parent Directory]</A><br><br>'
        ' 9/20/2023 10:11 AM        &lt;dir&gt; <A HREF="/mro/x/shadr/">shadr</A><br>'
        ' 6/15/2016  2:54 PM       758474 <A HREF="/mro/x/jgmro_110b_sha.tab">jgmro_110b_sha.tab'
        "</A><br></pre></body></html>"
    )
    dirs, files = listing_entries(page, "https://host/mro/x/")
    assert [d.name for d in dirs] == ["shadr"]
    assert [(f.name, f.size) for f in files] == [("jgmro_110b_sha.tab", 758474)]
    apache = '<pre><a href="a.tab">a.tab</a>   13-Apr-2011 15:07  4.2K</pre>'
    (entry,) = listing_entries(apache, "https://host/d/")[1]
    assert entry.size is None  # a rounded Apache size is never taken as exact
