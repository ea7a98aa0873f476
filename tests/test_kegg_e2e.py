"""End-to-end crawl of the KEGG spider against the KEGG REST emulator (real sockets, a real
``scrapy crawl`` process): lists in both id styles, /get chunks of 10, a link table, the
organism list, KEGG's 3 requests/second limit measured on the wire, 403 back-off, a withdrawn
entry (recorded) and an entry cut short (quarantined). One crawl serves every scenario."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from spiders.kegg import bare_id, flatfile_entries, list_rows
from tests.archives import ArchiveServer, Fault
from tests.archives.kegg import KeggArchive, max_in_window
from tests.archives.samples import sample_path, samples_root
from tests.crawl import CrawlResult, catalog_rows, run_crawl, sha256

SAMPLE = ("kegg", "get_ec_6.2.1.25.txt")


def chunk_ids(prefix: str, bare: list[str]) -> list[str]:
    return [f"{prefix}:{b}" for b in sorted(bare)]


@pytest.fixture(scope="module")
def crawl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrawlResult, dict[str, Any]]]:
    with ArchiveServer() as server:
        kegg = KeggArchive(server)
        pathways = kegg.add_database("pathway", 12, prefixed=True)  # path:map00010 style
        compounds = kegg.add_database("compound", 25, prefixed=False)  # C00001 style
        enzymes = kegg.add_database("enzyme", 4, prefixed=True)
        root = samples_root()
        real = root / Path(*SAMPLE) if root else None
        if real is not None and real.exists():
            kegg.add_entry("enzyme", "6.2.1.25", "benzoate---CoA ligase", real.read_text())
            enzymes.append("6.2.1.25")
        kegg.organisms = [
            ("T01001", "hsa", "Homo sapiens (human)", "Eukaryotes;Animals;Vertebrates;Mammals"),
            (
                "T00007",
                "eco",
                "Escherichia coli K-12 MG1655",
                "Prokaryotes;Bacteria;Gammaproteobacteria",
            ),
        ]
        kegg.links[("pathway", "ko")] = [
            ("ko:K00001", "path:map00010"),
            ("ko:K00002", "path:map00010"),
        ]
        kegg.withheld.add("C00013")  # /list names it, /get no longer returns it
        kegg.cut_short.add("map00120")  # served without its /// terminator
        chunks = {
            "pathway": [chunk_ids("path", pathways)[i : i + 10] for i in (0, 10)],
            "compound": [chunk_ids("cpd", compounds)[i : i + 10] for i in (0, 10, 20)],
            "enzyme": [chunk_ids("ec", enzymes)],
        }
        # KEGG's "slow down": the first compound chunk is answered 403 twice.
        forbidden = "/get/" + "+".join(chunks["compound"][0])
        server.fault(forbidden, Fault("status", times=2, status=403))
        data_dir = tmp_path_factory.mktemp("kegg") / "data"
        result = run_crawl(
            "kegg",
            data_dir,
            args={
                "base_url": server.base_url,
                "databases": "pathway,compound,enzyme,organism",
                "links": "pathway:ko",
            },
            timeout=240,
        )
        assert result.returncode == 0, result.log[-3000:]
        yield result, {"kegg": kegg, "server": server, "chunks": chunks, "forbidden": forbidden}


def test_rate_limit_holds_on_the_wire(crawl: tuple) -> None:
    result, env = crawl
    times = [e.at for e in env["server"].log]
    assert len(times) >= 15
    assert max_in_window(times) <= 3, sorted(times)
    assert env["kegg"].rate_violations == []  # the emulator never had to say "slow down"
    assert result.stats.get("retry/reason_count/403 Forbidden") == 2  # the injected ones only


def test_emulator_blocks_a_client_that_goes_too_fast() -> None:
    """The check above can fail: a 4th request within one second is refused with 403."""
    with ArchiveServer() as server:
        kegg = KeggArchive(server)
        kegg.add_database("pathway", 2)
        statuses = []
        for _ in range(5):
            try:
                with urllib.request.urlopen(server.url("/list/pathway")) as resp:
                    statuses.append(resp.status)
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        assert statuses[:3] == [200, 200, 200] and 403 in statuses[3:]
        assert kegg.rate_violations


def test_403_is_slow_down_with_exponential_backoff(crawl: tuple) -> None:
    result, env = crawl
    reqs = env["server"].requests_for(env["forbidden"], "GET")
    assert [r.status for r in reqs] == [403, 403, 200]
    item = result.by_path()["get/compound/compound_00000.txt"]
    assert item["status"] == "stored"
    rows = catalog_rows(
        result.data_dir,
        "select e.detail from events e join files f on f.id = e.file_id "
        "where f.archive_path = ? and e.kind = 'retry' order by e.id",
        "get/compound/compound_00000.txt",
    )
    delays = [json.loads(r["detail"])["delay"] for r in rows]
    reasons = [json.loads(r["detail"])["reason"] for r in rows]
    assert len(delays) == 2 and all("403" in r for r in reasons)
    # CAPTURE_RETRY_BACKOFF_BASE=2 with +-50% jitter: retry n waits 2 * 2**(n-1) * [0.5, 1.5].
    assert 1.0 <= delays[0] <= 3.0 and 2.0 <= delays[1] <= 6.0


def test_lists_in_both_id_styles_give_the_same_get_requests(crawl: tuple) -> None:
    result, env = crawl
    items = result.by_path()
    assert items["list/pathway.txt"]["status"] == "stored"
    rows = {
        r["archive_path"]: json.loads(r["file_metadata"]) for r in catalog_rows(result.data_dir)
    }
    assert rows["list/pathway.txt"]["id_style"] == "prefixed"
    assert rows["list/compound.txt"]["id_style"] == "bare"
    assert rows["list/compound.txt"]["entries"] == 25
    for db, chunks in env["chunks"].items():
        for n, ids in enumerate(chunks):
            item = items[f"get/{db}/{db}_{n:05d}.txt"]
            assert item["url"] == f"{env['server'].base_url}/get/{'+'.join(ids)}"
            assert item["metadata"]["requested_ids"] == ids
            assert item["format"] == "text" and item["domain"] == "astrobiology"


def test_chunks_are_stored_with_their_entry_counts(crawl: tuple) -> None:
    result, env = crawl
    items = result.by_path()
    for n, ids in enumerate(env["chunks"]["compound"]):
        item = items[f"get/compound/compound_{n:05d}.txt"]
        body = env["kegg"].body_for(ids)
        assert item["status"] == "stored" and item["sha256"] == sha256(body)
        assert (result.data_dir / item["path"]).read_bytes() == body
        expected = [bare_id(i) for i in ids if bare_id(i) != "C00013"]
        assert item["metadata"]["entry_ids"] == expected
        assert item["metadata"]["entries"] == len(expected)
    assert [len(c) for c in env["chunks"]["compound"]] == [10, 10, 5]
    assert result.stats.get("kegg/get/chunks") == 6


def test_withdrawn_entry_is_recorded_not_quarantined(crawl: tuple) -> None:
    result, _ = crawl
    item = result.by_path()["get/compound/compound_00001.txt"]
    assert item["status"] == "stored"
    assert item["metadata"]["missing_ids"] == ["C00013"] and item["metadata"]["complete"] is False
    (row,) = catalog_rows(
        result.data_dir, "select * from files where archive_path=?", item["archive_path"]
    )
    assert json.loads(row["file_metadata"])["missing_ids"] == ["C00013"]


def test_entry_cut_short_is_quarantined_with_reason(crawl: tuple) -> None:
    result, _ = crawl
    items = result.by_path()
    assert items["get/pathway/pathway_00000.txt"]["status"] == "stored"
    item = items["get/pathway/pathway_00001.txt"]  # map00110, map00120 (cut short)
    assert item["status"] == "quarantined"
    assert "not terminated by '///'" in item["error"]
    q = result.data_dir / "quarantine" / item["path"]
    assert q.exists() and "not terminated" in (q.parent / (q.name + ".reason.json")).read_text()


def test_organism_list_and_link_table(crawl: tuple) -> None:
    result, env = crawl
    items = result.by_path()
    organism = items["list/organism.txt"]
    assert organism["status"] == "stored" and organism["metadata"]["entries"] == 2
    stored = (result.data_dir / organism["path"]).read_text()
    assert [len(r) for r in list_rows(stored, 4)[0]] == [4, 4]
    link = items["link/pathway/ko.txt"]
    assert link["status"] == "stored" and link["metadata"]["entries"] == 2
    assert link["url"].endswith("/link/pathway/ko")
    # organism is a list only: never a /get of its ids
    assert not any("T01001" in e.path for e in env["server"].log if e.path.startswith("/get/"))


def test_real_flat_file_sample_is_captured(crawl: tuple) -> None:
    sample = sample_path(*SAMPLE).read_bytes()
    result, _ = crawl
    item = result.by_path()["get/enzyme/enzyme_00000.txt"]
    assert item["status"] == "stored"
    assert "6.2.1.25" in item["metadata"]["entry_ids"] and item["metadata"]["complete"]
    assert sample in (result.data_dir / item["path"]).read_bytes()
    assert "ec:6.2.1.25" in item["url"]


def test_flat_file_parser() -> None:
    text = "ENTRY       EC 6.2.1.25   Enzyme\nNAME  x\n///\nENTRY       C00001   Compound\n///\n"
    assert flatfile_entries(text) == (["6.2.1.25", "C00001"], False)
    assert flatfile_entries(text + "ENTRY       C00002   Compound\nNAME y\n")[1] is True
    assert list_rows("path:map00010\tGlycolysis\nbroken\n\n") == (
        [["path:map00010", "Glycolysis"]],
        1,
    )


def test_arguments_are_validated() -> None:
    from spiders.base import SpiderArgumentError
    from spiders.kegg import KeggSpider

    spider = KeggSpider(databases="pathway, ko", links="pathway:ko", max_entries="20")
    assert spider.databases == ["pathway", "ko"] and spider.links == [("pathway", "ko")]
    assert spider.request_id("pathway", "map00010") == "path:map00010"
    assert spider.request_id("enzyme", "ec:6.2.1.25") == "ec:6.2.1.25"
    for bad in ({"links": "pathway"}, {"databases": "Path/../x"}, {"max_entries": "ten"}):
        with pytest.raises(SpiderArgumentError):
            KeggSpider(**bad)
