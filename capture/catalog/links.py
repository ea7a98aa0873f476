"""Cross-domain links: typed edges between captured files, each with its evidence.

Computed after every run (``capture run``) or on demand (``capture catalog link``); each
computation replaces the previous edges of the same kinds, so they always reflect the catalog.

Link kinds and their rules:

``host_star_phoenix_model``
    For every host star in a captured Exoplanet Archive table (``pscomppars``,
    ``stellarhosts`` or ``ps``: ``hostname, st_teff, st_logg, st_met``), the PHOENIX grid
    spectrum nearest in (Teff, log g, [Fe/H]), distance measured in grid steps
    (100 K, 0.5 dex, 0.5 dex). Evidence: the star's and the model's parameters, the distance.
``target_jwst_observation``
    A planet or host star of an Exoplanet Archive table and the JWST products whose target is
    the same object after name normalisation ("WASP-39 b", "WASP 39b" and "WASP-39" all match
    host "wasp39"; see :func:`capture.catalog.derive.normalize_target`).
``genomics_kegg_organism``
    1000 Genomes data are *Homo sapiens* (NCBI taxonomy 9606), which KEGG calls organism
    ``hsa`` (T01001): dataset-level 1000 Genomes files (index tables, READMEs) link to the
    captured KEGG files that list or describe ``hsa`` (``/list/organism`` lines, ``hsa``
    pathways). Only this species mapping is asserted; no gene-level claim is made.
``paleo_time_overlap``
    NOAA paleo data files whose time ranges (``earliestYearBP``..``mostRecentYearBP``)
    overlap: each file links to the files of *other* studies with the largest overlap (up to
    5), score = overlap / length of the shorter range.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select

from capture.catalog.derive import normalize_target
from capture.catalog.schema import file_params, files, links
from capture.catalog.store import Catalog, utcnow
from capture.formats.tap_results import rows_of  # the archive's own quoting rules
from capture.storage import codec as codecs

KINDS = (
    "host_star_phoenix_model",
    "target_jwst_observation",
    "genomics_kegg_organism",
    "paleo_time_overlap",
)
STEPS = {"teff": 100.0, "logg": 0.5, "feh": 0.5}
HOST_TABLES = ("pscomppars", "stellarhosts", "ps")
TOP_OVERLAPS = 5


def _json(v: Any) -> Any:
    return json.loads(v) if isinstance(v, str) else (v or {})


def _float(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


# -- sources -------------------------------------------------------------------------------
def exoplanet_rows(catalog: Catalog, root: Path) -> list[tuple[int, dict[str, str]]]:
    """(file id, row) for rows of the captured Exoplanet Archive tables."""
    out: list[tuple[int, dict[str, str]]] = []
    with catalog.engine.connect() as conn:
        q = select(
            files.c.id, files.c.path, files.c.archive_path, files.c.format, files.c.codec
        ).where(files.c.archive == "nasa_exoplanet_archive", files.c.state == "stored")
        tables = list(conn.execute(q))
    for fid, path, archive_path, fmt, codec in tables:
        name = archive_path.rsplit("/", 1)[-1].split(".", 1)[0]
        if name not in HOST_TABLES or fmt not in ("csv", "tsv"):
            continue
        try:
            where = root / codecs.location(path, codec)
            text = {"encoding": "utf-8", "errors": "replace", "newline": ""}
            with codecs.open_original(where, codec, "rt", **text) as fh:
                for row in rows_of(fh, "\t" if fmt == "tsv" else ","):
                    out.append((fid, row))
        except (OSError, ValueError):
            continue
    return out


def hosts(rows: list[tuple[int, dict[str, str]]]) -> dict[str, tuple[int, dict[str, Any]]]:
    """One entry per host star with complete parameters (first table that gives them)."""
    found: dict[str, tuple[int, dict[str, Any]]] = {}
    for fid, row in rows:
        name = (row.get("hostname") or "").strip()
        teff, logg, feh = (_float(row.get(k)) for k in ("st_teff", "st_logg", "st_met"))
        if not name or None in (teff, logg, feh) or name in found:
            continue
        found[name] = (fid, {"hostname": name, "teff": teff, "logg": logg, "feh": feh})
    return found


def phoenix_models(catalog: Catalog) -> list[tuple[int, dict[str, float]]]:
    with catalog.engine.connect() as conn:
        q = (
            select(file_params.c.file_id, file_params.c.name, file_params.c.value)
            .join(files, files.c.id == file_params.c.file_id)
            .where(
                files.c.archive == "phoenix",
                files.c.state == "stored",
                file_params.c.name.in_(("teff", "logg", "feh", "alpha")),
            )
        )
        grid: dict[int, dict[str, float]] = defaultdict(dict)
        for fid, name, value in conn.execute(q):
            grid[fid][name] = value
    return [(fid, p) for fid, p in grid.items() if {"teff", "logg", "feh"} <= set(p)]


# -- link builders -------------------------------------------------------------------------
def link_hosts_to_phoenix(
    host_map: dict[str, tuple[int, dict[str, Any]]], models: list[tuple[int, dict[str, float]]]
) -> list[dict[str, Any]]:
    edges: list[dict[str, Any]] = []
    if not models:
        return edges
    for name, (fid, star) in host_map.items():

        def distance(p: dict[str, float], star: dict[str, Any] = star) -> float:
            return math.sqrt(sum(((p[k] - star[k]) / STEPS[k]) ** 2 for k in STEPS))

        # Prefer solar-scaled alpha when the grid has alpha variants.
        target_id, params = min(models, key=lambda m: (distance(m[1]), abs(m[1].get("alpha", 0))))
        d = distance(params)
        edges.append(
            {
                "kind": "host_star_phoenix_model",
                "source_file_id": fid,
                "source_key": name,
                "target_file_id": target_id,
                "target_key": f"teff={params['teff']:g},logg={params['logg']:g},"
                f"feh={params['feh']:g}",
                "score": round(1 / (1 + d), 6),
                "evidence": {
                    "star": star,
                    "model": params,
                    "distance_grid_steps": d,
                    "steps": STEPS,
                },
            }
        )
    return edges


def link_targets_to_jwst(
    catalog: Catalog, rows: list[tuple[int, dict[str, str]]]
) -> list[dict[str, Any]]:
    with catalog.engine.connect() as conn:
        q = select(files.c.id, files.c.target, files.c.file_metadata).where(
            files.c.archive == "jwst_mast", files.c.state == "stored", files.c.target.is_not(None)
        )
        jwst: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for fid, target, meta in conn.execute(q):
            jwst[target].append((fid, (_json(meta) or {}).get("target_name") or target))
    edges, seen = [], set()
    for fid, row in rows:
        for name in (row.get("pl_name"), row.get("hostname")):
            key = normalize_target(name)
            if not key or key not in jwst:
                continue
            for target_id, jwst_name in jwst[key]:
                sig = (fid, name, target_id)
                if sig in seen:
                    continue
                seen.add(sig)
                edges.append(
                    {
                        "kind": "target_jwst_observation",
                        "source_file_id": fid,
                        "source_key": name,
                        "target_file_id": target_id,
                        "target_key": jwst_name,
                        "score": 1.0,
                        "evidence": {
                            "source_name": name,
                            "jwst_target": jwst_name,
                            "normalised": key,
                        },
                    }
                )
    return edges


def link_genomics_to_kegg(catalog: Catalog, root: Path) -> list[dict[str, Any]]:
    with catalog.engine.connect() as conn:
        genomics = [
            (fid, p)
            for fid, p, fmt in conn.execute(
                select(files.c.id, files.c.archive_path, files.c.format).where(
                    files.c.archive == "thousand_genomes", files.c.state == "stored"
                )
            )
            if fmt == "index" or p.rsplit("/", 1)[-1].upper().startswith("README")
        ]
        kegg = list(
            conn.execute(
                select(files.c.id, files.c.path, files.c.archive_path, files.c.codec).where(
                    files.c.archive == "kegg", files.c.state == "stored"
                )
            )
        )
    hsa_files = []
    for fid, path, archive_path, codec in kegg:
        evidence = _kegg_mentions_hsa(root / codecs.location(path, codec), codec)
        if evidence:
            hsa_files.append((fid, archive_path, evidence))
    edges = []
    for g_id, g_path in genomics:
        for k_id, k_path, evidence in hsa_files:
            edges.append(
                {
                    "kind": "genomics_kegg_organism",
                    "source_file_id": g_id,
                    "source_key": "Homo sapiens (NCBI:txid9606)",
                    "target_file_id": k_id,
                    "target_key": "hsa (T01001)",
                    "score": 1.0,
                    "evidence": {
                        "rule": "1000 Genomes samples are Homo sapiens; KEGG organism code hsa",
                        "kegg_file": k_path,
                        "kegg_line": evidence,
                        "genomics_file": g_path,
                    },
                }
            )
    return edges


def _kegg_mentions_hsa(path: Path, codec: str | None = None) -> str | None:
    try:
        with codecs.open_original(path, codec, "rt", encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh):
                fields = line.rstrip("\n").split("\t")
                text = str(line)
                if len(fields) >= 3 and fields[1].strip() == "hsa":
                    return text.strip()[:200]
                if text.startswith(("path:hsa", "hsa")) or "\thsa:" in text or "(hsa)" in text:
                    return text.strip()[:200]
                if n > 200_000:
                    break
    except OSError:
        return None
    return None


def link_paleo_overlaps(catalog: Catalog) -> list[dict[str, Any]]:
    with catalog.engine.connect() as conn:
        q = select(files.c.id, files.c.file_metadata).where(
            files.c.archive == "noaa_paleo", files.c.state == "stored"
        )
        studies = []
        for fid, meta in conn.execute(q):
            meta = _json(meta)
            old, new = _float(meta.get("earliestYearBP")), _float(meta.get("mostRecentYearBP"))
            if old is None or new is None:
                continue
            lo, hi = sorted((new, old))
            studies.append((fid, str(meta.get("NOAAStudyId") or fid), lo, hi))
    edges = []
    for fid, study, lo, hi in studies:
        scored = []
        for other, other_study, olo, ohi in studies:
            if other_study == study:
                continue
            overlap = min(hi, ohi) - max(lo, olo)
            if overlap <= 0:
                continue
            shorter = max(1e-9, min(hi - lo, ohi - olo))
            scored.append((min(1.0, overlap / shorter), other, other_study, olo, ohi, overlap))
        for score, other, other_study, olo, ohi, overlap in sorted(scored, reverse=True)[
            :TOP_OVERLAPS
        ]:
            edges.append(
                {
                    "kind": "paleo_time_overlap",
                    "source_file_id": fid,
                    "source_key": f"study {study}",
                    "target_file_id": other,
                    "target_key": f"study {other_study}",
                    "score": round(score, 6),
                    "evidence": {
                        "source_range_bp": [lo, hi],
                        "target_range_bp": [olo, ohi],
                        "overlap_years": overlap,
                    },
                }
            )
    return edges


# -- driver --------------------------------------------------------------------------------
def compute_links(catalog: Catalog, root: Path, run_id: str | None = None) -> dict[str, int]:
    rows = exoplanet_rows(catalog, root)
    edges = (
        link_hosts_to_phoenix(hosts(rows), phoenix_models(catalog))
        + link_targets_to_jwst(catalog, rows)
        + link_genomics_to_kegg(catalog, root)
        + link_paleo_overlaps(catalog)
    )
    now = utcnow()
    with catalog.engine.begin() as conn:
        conn.execute(delete(links).where(links.c.kind.in_(KINDS)))
        if edges:
            conn.execute(insert(links), [{**e, "run_id": run_id, "created_at": now} for e in edges])
    counts = {k: 0 for k in KINDS}
    for e in edges:
        counts[e["kind"]] += 1
    return counts


def list_links(
    catalog: Catalog, kind: str | None = None, path: str | None = None
) -> list[dict[str, Any]]:
    src, dst = files.alias("src"), files.alias("dst")
    q = (
        select(
            links.c.kind,
            links.c.source_key,
            links.c.target_key,
            links.c.score,
            links.c.evidence,
            src.c.path.label("source_path"),
            dst.c.path.label("target_path"),
        )
        .join(src, src.c.id == links.c.source_file_id)
        .join(dst, dst.c.id == links.c.target_file_id)
    )
    if kind:
        q = q.where(links.c.kind == kind)
    if path:
        q = q.where((src.c.path == path) | (dst.c.path == path))
    with catalog.engine.connect() as conn:
        return [dict(r) for r in conn.execute(q.order_by(links.c.id)).mappings()]
