"""capture/replicas.py: the configuration, the order replicas are tried in, byte ranges and
blame (the crawls themselves are in tests/test_replicas_e2e.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from scrapy.utils.test import get_crawler

from capture.config import CaptureSettings
from capture.replicas import (
    ReplicaBoard,
    ReplicaConfigError,
    add_segment,
    blame,
    identity,
    parse_entries,
    range_digests,
    served_ranges,
)
from spiders.base import SpiderArgumentError
from spiders.thousand_genomes import ThousandGenomesSpider

DECLARED = {"ncbi": "https://ftp-trace.ncbi.nih.gov/1000genomes/ftp/", "aws": "s3://1000genomes/"}
CANDIDATES = [
    {"name": "origin", "url": "https://a/x"},
    {"name": "ncbi", "url": "https://b/x"},
    {"name": "aws", "url": "s3://c/x"},
]


def test_entries_keep_the_configured_order_with_origin_first_unless_placed() -> None:
    names = [r.name for r in parse_entries(["aws", "ncbi"], DECLARED)]
    assert names == ["origin", "aws", "ncbi"]
    assert [r.name for r in parse_entries(["ncbi", "origin"], DECLARED)] == ["ncbi", "origin"]
    assert [r.name for r in parse_entries(["all"], DECLARED)] == ["origin", "ncbi", "aws"]
    own = parse_entries(["mine=ftp://mirror.example/pub/"], DECLARED)
    assert own[1].url == "ftp://mirror.example/pub/"
    assert parse_entries([], DECLARED) == []


@pytest.mark.parametrize(
    "entry", ["nope", "x=file:///etc/", "x=http://user@host/", "origin=http://h/", "bad name=x"]
)
def test_bad_entries_are_refused_with_one_line(entry: str) -> None:
    with pytest.raises(ReplicaConfigError):
        parse_entries([entry], DECLARED)


def test_a_spider_maps_its_archive_paths_onto_each_mirror() -> None:
    crawler = get_crawler(
        ThousandGenomesSpider, {"CAPTURE_REPLICAS": "ncbi,aws,ebi_ftp", "CAPTURE_DATA_DIR": "/x"}
    )
    spider = ThousandGenomesSpider.from_crawler(crawler)
    item = spider.attach_replicas(
        spider.new_file("https://ftp.1000genomes.ebi.ac.uk/vol1/ftp/a b.vcf", "vol1/ftp/a b.vcf")
    )
    assert item.replicas == [
        {"name": "origin", "url": "https://ftp.1000genomes.ebi.ac.uk/vol1/ftp/a b.vcf"},
        {"name": "ncbi", "url": "https://ftp-trace.ncbi.nih.gov/1000genomes/ftp/a%20b.vcf"},
        {"name": "aws", "url": "s3://1000genomes/a%20b.vcf"},
        {"name": "ebi_ftp", "url": "ftp://ftp.1000genomes.ebi.ac.uk/vol1/ftp/a%20b.vcf"},
    ]
    assert {"ftp-trace.ncbi.nih.gov", "s3://1000genomes"} <= set(spider.allowed_hosts)
    with pytest.raises(SpiderArgumentError, match="no replica this archive declares"):
        ThousandGenomesSpider.replicas_for(
            CaptureSettings.from_settings({"CAPTURE_REPLICAS": "nope"})
        )


def test_next_replica_prefers_untried_then_cycles_and_demotes_after_failures() -> None:
    board = ReplicaBoard(demote_after=2)
    assert board.next(CANDIDATES, "origin", ["origin"])["name"] == "ncbi"  # type: ignore[index]
    assert board.next(CANDIDATES, "ncbi", ["origin", "ncbi"])["name"] == "aws"  # type: ignore[index]
    assert board.next(CANDIDATES, "aws", ["origin", "ncbi", "aws"])["name"] == "origin"  # type: ignore[index]
    assert board.next(CANDIDATES[:1], "origin", ["origin"]) is None
    board.failed("origin", "stall")
    assert board.order(CANDIDATES)[0]["name"] == "origin"  # one failure: not demoted yet
    board.succeeded("origin")
    board.failed("origin", "stall")
    assert board.order(CANDIDATES)[0]["name"] == "origin"  # a success reset the count
    board.failed("origin", "stall")
    assert [c["name"] for c in board.order(CANDIDATES)] == ["ncbi", "aws", "origin"]
    assert [c["name"] for c in board.order(CANDIDATES, avoid=["ncbi"])] == ["aws", "origin", "ncbi"]
    assert board.mark_bad("aws") and not board.mark_bad("aws")
    assert [c["name"] for c in board.order(CANDIDATES)] == ["ncbi", "origin", "aws"]


def test_segments_record_which_replica_served_which_bytes_across_resumes() -> None:
    seg = add_segment(None, 0, "origin", "u1")
    seg = add_segment(seg, 4096, "origin", "u1")  # same replica resumes: one segment
    seg = add_segment(seg, 8192, "ncbi", "u2")
    assert served_ranges(seg, 10_000) == [
        {"replica": "origin", "url": "u1", "from": 0, "to": 8192},
        {"replica": "ncbi", "url": "u2", "from": 8192, "to": 10_000},
    ]
    # A later resume before ncbi's start (its bytes were not durable) drops its segment.
    assert add_segment(seg, 6000, "aws", "u3") == [[0, "origin", "u1"], [6000, "aws", "u3"]]
    assert identity({"algorithm": "md5", "expected": "ab"}, 10) == "md5:ab:10"
    assert identity({"algorithm": "md5", "expected": "ab"}, None) is None
    assert identity({"algorithm": None, "expected": None}, 10) is None


def test_blame_names_only_replicas_whose_range_differs_from_a_verified_copy(tmp_path: Path) -> None:
    good, bad = tmp_path / "good", tmp_path / "bad"
    data = hashlib.shake_256(b"x").digest(10_000)
    good.write_bytes(data)
    bad.write_bytes(data[:7000] + b"\0" + data[7001:])
    ranges = served_ranges([[0, "origin", "u1"], [5000, "ncbi", "u2"]], 10_000)
    assert blame(ranges, range_digests(bad, ranges), range_digests(good, ranges)) == ["ncbi"]
    same = range_digests(good, ranges)
    assert blame(ranges, same, same) == []  # identical copies: the publisher digest is wrong
