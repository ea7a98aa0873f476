"""Per-file dataset citations end to end: real crawls of noaa_paleo (the recorded NCEI search
reply) and thousand_genomes against their emulators, then ``capture catalog cite`` by path and
by sha256 (text, BibTeX, CSL-JSON) and the DataCite / RO-Crate exports.

The NOAA DOIs asserted are the ones in the recorded reply
(``../shared/samples/noaa_paleo/study_search_response_3studies.json``, study 18315)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.archives import ArchiveServer, Blob
from tests.archives.noaa_paleo import NoaaPaleoArchive, study
from tests.archives.samples import sample_path
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import CrawlResult, capture_cli, catalog_rows, run_crawl

PALEO = "https://www.ncei.noaa.gov/pub/data/paleo"
STUDY_DOI = "10.25921/3ee7-kx97"  # study 18315 in the recorded reply
PAPER_DOI = "10.1029/2011PA002139"  # its publication[0].identifier.id


def cite(data_dir: Path, *args: str) -> Any:
    done = capture_cli("catalog", "cite", *args, "--data-dir", str(data_dir), cwd=data_dir.parent)
    return done


@pytest.fixture(scope="module")
def noaa(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[CrawlResult, Any]]:
    raw = sample_path("noaa_paleo", "study_search_response_3studies.json").read_bytes()
    with ArchiveServer() as server:
        archive = NoaaPaleoArchive(server)
        records = archive.add_sample_studies(raw)
        archive.add_study(study("100009", "No DOI study", [f"{PALEO}/x/nodoi.txt"]))
        archive.studies[-1]["doi"] = None
        data_dir = tmp_path_factory.mktemp("cite-noaa") / "data"
        result = run_crawl(
            "noaa_paleo",
            data_dir,
            args={"base_url": server.base_url, "profile": "none", "page_size": "3"},
        )
        assert result.returncode == 0, result.log[-3000:]
        yield result, records


def _item_of_study(result: CrawlResult, study_id: str) -> dict[str, Any]:
    return next(i for i in result.items if i["metadata"].get("NOAAStudyId") == study_id)


def test_noaa_study_doi_is_stored_per_file(noaa: tuple[CrawlResult, Any]) -> None:
    result, records = noaa
    real = next(r for r in records if r["NOAAStudyId"] == "18315")
    assert real["doi"] == f"https://doi.org/{STUDY_DOI}"  # the recording says so
    item = _item_of_study(result, "18315")
    cit = item["citation"]
    assert cit["doi"] == STUDY_DOI and cit["kind"] == "dataset"
    assert cit["version"] == real["version"] == "1.0" and cit["year"] == 2015
    assert cit["title"] == real["studyName"]
    assert cit["authors"][0] == "Khider, D." and len(cit["authors"]) == 5
    assert cit["url"] == "https://www.ncei.noaa.gov/access/paleo-search/study/18315"
    assert {"doi": PAPER_DOI, "kind": "publication"}.items() <= cit["related"][0].items()
    (row,) = catalog_rows(
        result.data_dir, "select * from files where archive_path=?", item["archive_path"]
    )
    assert row["citation_doi"] == STUDY_DOI and json.loads(row["citation"]) == cit
    # every file of the three recorded studies carries its own study's DOI
    by_doi = catalog_rows(
        result.data_dir, "select citation_doi, count(*) n from files group by citation_doi"
    )
    dois = {r["citation_doi"] for r in by_doi}
    assert {f"{r['doi'].removeprefix('https://doi.org/')}" for r in records} <= dois
    # a study without a DOI: the citation names it without inventing one
    nodoi = _item_of_study(result, "100009")["citation"]
    assert "doi" not in nodoi and nodoi["title"] == "No DOI study"


def test_cite_by_path_and_by_sha256(noaa: tuple[CrawlResult, Any]) -> None:
    result, _ = noaa
    item = _item_of_study(result, "18315")
    by_path = cite(result.data_dir, item["path"])
    assert by_path.returncode == 0, by_path.stderr
    out = by_path.stdout
    assert f"https://doi.org/{STUDY_DOI}" in out and "Version 1.0." in out
    assert f"accessed {item['retrieved_at'][:10]}" in out and item["sha256"] in out
    assert "capture version 1" in out and PAPER_DOI in out
    by_sha = cite(result.data_dir, item["sha256"])
    assert by_sha.returncode == 0 and by_sha.stdout == by_path.stdout
    absolute = cite(result.data_dir, str(result.data_dir / item["path"]))
    assert absolute.stdout == by_path.stdout
    bib = cite(result.data_dir, item["path"], "--format", "bibtex").stdout
    assert bib.startswith("@misc{Khider2015_") and f"doi = {{{STUDY_DOI}}}" in bib
    assert f"urldate = {{{item['retrieved_at'][:10]}}}" in bib and item["sha256"] in bib
    (csl,) = json.loads(cite(result.data_dir, item["path"], "--format", "json").stdout)
    assert csl["type"] == "dataset" and csl["DOI"] == STUDY_DOI and csl["version"] == "1.0"
    assert csl["author"][0] == {"family": "Khider", "given": "D."}
    assert csl["issued"] == {"date-parts": [[2015]]}
    assert csl["capture"]["sha256"] == item["sha256"]
    y, m, d = (int(p) for p in item["retrieved_at"][:10].split("-"))
    assert csl["accessed"] == {"date-parts": [[y, m, d]]}
    missing = cite(result.data_dir, "f" * 64)
    assert missing.returncode == 2 and "no file" in missing.stderr


def test_exports_carry_the_citation(noaa: tuple[CrawlResult, Any], tmp_path: Path) -> None:
    result, _ = noaa
    item = _item_of_study(result, "18315")
    data = str(result.data_dir)
    out = tmp_path / "datacite.json"
    done = capture_cli(
        "catalog", "export", "--format", "datacite", "-o", str(out), "--data-dir", data,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [d["attributes"] for d in json.loads(out.read_text())["data"]]
    rec = next(r for r in records if r["identifiers"][0]["identifier"].endswith(item["sha256"]))
    related = {(r["relatedIdentifier"], r["relationType"]) for r in rec["relatedIdentifiers"]}
    assert (STUDY_DOI, "IsPartOf") in related and (PAPER_DOI, "IsSupplementTo") in related
    alternate = {(a["alternateIdentifierType"], a["alternateIdentifier"]) for a in rec[
        "alternateIdentifiers"]}  # fmt: skip
    assert ("NOAAStudyId", "18315") in alternate
    crate_dir = tmp_path / "crate"
    done = capture_cli(
        "catalog", "export", "--format", "ro-crate", "-o", str(crate_dir), "--data-dir", data,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    graph = json.loads((crate_dir / "ro-crate-metadata.json").read_text())["@graph"]
    by_id = {e["@id"]: e for e in graph}
    entity = next(e for e in graph if e.get("sha256") == item["sha256"])
    target = f"https://doi.org/{STUDY_DOI}"
    assert {"@id": target} in entity["citation"]
    assert by_id[target]["@type"] == "Dataset" and by_id[target]["version"] == "1.0"
    assert by_id[f"https://doi.org/{PAPER_DOI}"]["@type"] == "ScholarlyArticle"
    # one contextual entity per cited work, however many files cite it
    assert len([e for e in graph if e["@id"] == target]) == 1


def test_thousand_genomes_publications_by_collection(
    tg: ThousandGenomesArchive, data_dir: Path
) -> None:
    files = {
        "ftp/release/20130502/integrated_call_samples_v3.20130502.ALL.panel": Blob("panel", 900),
        "ftp/data_collections/1000G_2504_high_coverage/1000G_2504_high_coverage.sequence.index": (
            Blob("hc", 1200)
        ),
        "ftp/technical/other.txt": Blob("other", 300),
    }
    for path, blob in files.items():
        tg.add_file(path, blob)
    result = run_crawl("thousand_genomes", data_dir, args={"base_url": tg.publish(), **WHOLE_TREE})
    assert result.returncode == 0, result.log[-2000:]
    items = result.by_path()
    panel = items["vol1/ftp/release/20130502/integrated_call_samples_v3.20130502.ALL.panel"]
    assert panel["citation"]["doi"] == "10.1038/nature15393"
    assert panel["citation"]["kind"] == "publication"
    out = cite(data_dir, panel["path"]).stdout
    assert "https://doi.org/10.1038/nature15393" in out and panel["sha256"] in out
    assert "1000 Genomes phase 3 release" in out
    hc_path = "vol1/ftp/data_collections/1000G_2504_high_coverage/"
    hc = items[hc_path + "1000G_2504_high_coverage.sequence.index"]
    out = cite(data_dir, f"thousand_genomes:{hc['archive_path']}").stdout
    assert "https://doi.org/10.1016/j.cell.2022.08.004" in out
    assert "Also cite (publication)" in out and "10.1038/nature15393" in out
    # a file outside the collections: no citation is made up, the archive is named
    other = items["vol1/ftp/technical/other.txt"]
    assert other["citation"] is None
    out = cite(data_dir, other["sha256"]).stdout
    assert "doi.org" not in out and "none published" in out
    assert "International Genome Sample Resource" in out

    # the file changes upstream: a new version; the old sha256 still cites version 1
    old_sha = panel["sha256"]
    tg.entries[0].blob = Blob("panel-v2", 950)
    tg.server.add("/vol1/" + tg.entries[0].path, tg.entries[0].blob)
    again = run_crawl("thousand_genomes", data_dir, args={"base_url": tg.publish(), **WHOLE_TREE})
    assert again.returncode == 0, again.log[-2000:]
    assert again.by_path()[panel["archive_path"]]["status"] == "stored"
    old = cite(data_dir, old_sha).stdout
    assert "capture version 1" in old and old_sha in old
    new = cite(data_dir, panel["path"]).stdout
    assert "capture version 2" in new and "10.1038/nature15393" in new
