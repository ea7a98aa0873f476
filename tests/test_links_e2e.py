"""Cross-domain links computed from real crawls of five archives into one catalog: host stars
to PHOENIX models, planets/hosts to JWST observations, genomics to KEGG's organism, and NOAA
paleo studies by overlapping time range."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from capture.formats.tap_results import read_rows
from tests.archives import ArchiveServer, Blob
from tests.archives.kegg import KeggArchive
from tests.archives.mast import MastArchive
from tests.archives.nasa_exoplanet_archive import ExoplanetArchive
from tests.archives.noaa_paleo import NoaaPaleoArchive, study
from tests.archives.phoenix import GRID, PhoenixArchive
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import run_crawl

pytestmark = pytest.mark.slow
SUFFIX = ".PHOENIX-ACES-AGSS-COND-2011-HiRes.fits"
MODELS = [(3000, 5.0, 0.0), (4500, 4.5, -0.5), (5800, 4.5, 0.0), (6200, 4.0, 0.5)]
PALEO = "https://www.ncei.noaa.gov/pub/data/paleo"


def name(teff: int, logg: float, feh: float) -> tuple[str, str]:
    z = "-0.0" if feh == 0 else f"{feh:+.1f}"
    return f"Z{z}", f"lte{teff:05d}-{logg:.2f}{z}{SUFFIX}"


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> dict:
    data = tmp_path_factory.mktemp("links") / "data"
    with ArchiveServer() as server:
        base = server.base_url
        ExoplanetArchive(server)
        phx = PhoenixArchive(server)
        for teff, logg, feh in MODELS:
            z, fname = name(teff, logg, feh)
            phx.add_spectrum(z, fname, teff, logg, feh, 0.0)
        mast = MastArchive(server)
        for n, target in enumerate(("HD 189733", "TRAPPIST-1", "WASP-39")):
            obs = mast.add_observation(
                f"9300000{n}", f"jw0{n}-o001_t001_nirspec", target_name=target
            )
            mast.add_product(obs, f"jw0{n}-o001_t001_nirspec_x1d.fits", subgroup="X1D")
        mast.install()
        tg = ThousandGenomesArchive(server)
        tg.add_file(
            "ftp/data_collections/sample.alignment.index",
            Blob.of(b"##note\n#CRAM\tCRAM_MD5\nftp:/x.cram\t" + b"0" * 32 + b"\n"),
        )
        tg.add_file("ftp/README_populations.md", Blob.of(b"populations\n"))
        tg.publish()
        kegg = KeggArchive(server)
        kegg.organisms = [
            ("T01001", "hsa", "Homo sapiens (human)", "Eukaryotes;Animals;Vertebrates;Mammals"),
            (
                "T00007",
                "eco",
                "Escherichia coli K-12 MG1655",
                "Prokaryotes;Bacteria;Gammaproteobacteria",
            ),
        ]
        noaa = NoaaPaleoArchive(server)
        for sid, lo, hi in (
            ("200001", 0, 12000),
            ("200002", 5000, 20000),
            ("200003", 50000, 60000),
        ):
            noaa.add_study(
                study(sid, f"study {sid}", [f"{PALEO}/emu/{sid}.txt"], earliest_bp=hi, recent_bp=lo)
            )
        crawls = [
            ("nasa_exoplanet_archive", {"tables": "pscomppars,stellarhosts"}),
            ("phoenix", {}),
            ("jwst_mast", {"target": "*"}),
            ("thousand_genomes", WHOLE_TREE),
            ("kegg", {"databases": "organism"}),
            ("noaa_paleo", {"keywords": "emu"}),
        ]
        for spider, args in crawls:
            result = run_crawl(spider, data, args={"base_url": base, **args})
            assert result.returncode == 0, (spider, result.log[-2000:])
            assert any(i["status"] == "stored" for i in result.items), spider
    proc = subprocess.run(
        [sys.executable, "-m", "capture", "catalog", "link", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    listing = subprocess.run(
        [sys.executable, "-m", "capture", "catalog", "links", "--json", "--data-dir", str(data)],
        capture_output=True,
        text=True,
    )
    return {"data": data, "counts": json.loads(proc.stdout), "links": json.loads(listing.stdout)}


def of_kind(linked: dict, kind: str) -> list[dict]:
    return [x for x in linked["links"] if x["kind"] == kind]


def test_host_stars_link_to_the_nearest_phoenix_model(linked: dict) -> None:
    edges = of_kind(linked, "host_star_phoenix_model")
    assert edges and linked["counts"]["host_star_phoenix_model"] == len(edges)
    table = next(
        (linked["data"] / "astronomy" / "nasa_exoplanet_archive" / "TAP" / "sync").glob(
            "pscomppars.*"
        )
    )
    expected = {}
    for row in read_rows(str(table), ","):
        try:
            star = {k: float(row[k]) for k in ("st_teff", "st_logg", "st_met")}
        except (TypeError, ValueError):
            continue
        best = min(
            MODELS,
            key=lambda m: math.dist(
                (m[0] / 100, m[1] / 0.5, m[2] / 0.5),
                (star["st_teff"] / 100, star["st_logg"] / 0.5, star["st_met"] / 0.5),
            ),
        )
        expected.setdefault(row["hostname"], best)
    for edge in edges:
        evidence = (
            edge["evidence"] if isinstance(edge["evidence"], dict) else json.loads(edge["evidence"])
        )
        model = evidence["model"]
        if edge["source_key"] in expected:
            assert (model["teff"], model["logg"], model["feh"]) == expected[edge["source_key"]]
        z, fname = name(int(model["teff"]), model["logg"], model["feh"])
        assert edge["target_path"].endswith(f"{GRID}/{z}/{fname}")


def test_planets_and_hosts_link_to_jwst_targets(linked: dict) -> None:
    edges = of_kind(linked, "target_jwst_observation")
    pairs = {(e["source_key"], e["target_key"]) for e in edges}
    # "HD 189733 b" (planet) and "HD 189733" (host) both match JWST's "HD 189733"; likewise
    # TRAPPIST-1 e; WASP-39 has no row in these tables, so no link.
    assert ("HD 189733 b", "HD 189733") in pairs and ("HD 189733", "HD 189733") in pairs
    assert ("TRAPPIST-1 e", "TRAPPIST-1") in pairs
    assert not any("WASP-39" in s for s, _ in pairs)


def test_genomics_links_to_kegg_organism(linked: dict) -> None:
    edges = of_kind(linked, "genomics_kegg_organism")
    sources = {Path(e["source_path"]).name for e in edges}
    assert sources == {"sample.alignment.index", "README_populations.md"}
    assert all(e["target_key"] == "hsa (T01001)" and "list" in e["target_path"] for e in edges)


def test_paleo_studies_link_by_overlapping_time(linked: dict) -> None:
    edges = of_kind(linked, "paleo_time_overlap")
    pairs = {(e["source_key"], e["target_key"]) for e in edges}
    assert pairs == {("study 200001", "study 200002"), ("study 200002", "study 200001")}
    edge = next(e for e in edges if e["source_key"] == "study 200001")
    evidence = (
        edge["evidence"] if isinstance(edge["evidence"], dict) else json.loads(edge["evidence"])
    )
    assert evidence["overlap_years"] == 7000 and edge["score"] == pytest.approx(7000 / 12000)
