"""The run summary: JSON and an HTML page with plots (bytes per domain, quality distribution,
throughput over time), written to ``<data root>/reports/``."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import select

from capture.catalog import Catalog
from capture.catalog.schema import UNFINISHED, events, files
from capture.reports import plots


def outcomes(catalog: Catalog, run_id: str) -> dict[str, Any]:
    """Per domain and archive: files and bytes by final status in this run (catalog events)."""
    q = (
        select(
            files.c.domain,
            files.c.archive,
            files.c.expected_size,
            files.c.size,
            files.c.quality,
            events.c.detail,
        )
        .join(files, files.c.id == events.c.file_id)
        .where(events.c.run_id == run_id, events.c.kind == "outcome")
    )
    domains: dict[str, Any] = {}
    planned = {"files": 0, "bytes": 0, "unknown_size": 0}
    scores: list[float] = []
    with catalog.engine.connect() as conn:
        for domain, archive, expected, size, quality, detail in conn.execute(q):
            detail = detail if isinstance(detail, dict) else json.loads(detail or "{}")
            status = detail.get("status", "unknown")
            nbytes = int(detail.get("size") or size or 0)
            if status == "planned":
                nbytes = int(expected or 0)
                planned["files"] += 1
                planned["bytes"] += nbytes
                planned["unknown_size"] += int(expected is None)
            cell = (
                domains.setdefault(domain, {"archives": {}, "files": 0, "bytes": 0})["archives"]
                .setdefault(archive, {})
                .setdefault(status, {"files": 0, "bytes": 0})
            )
            cell["files"] += 1
            cell["bytes"] += nbytes
            domains[domain]["files"] += 1
            if status in ("stored", "quarantined", "planned"):
                domains[domain]["bytes"] += nbytes
            q_data = quality if isinstance(quality, dict) else json.loads(quality or "null")
            if q_data and status in ("stored", "quarantined") and q_data.get("score") is not None:
                scores.append(float(q_data["score"]))
        remaining: dict[str, int] = defaultdict(int)
        for archive, _file_id in conn.execute(
            select(files.c.archive, files.c.id).where(files.c.state.in_(UNFINISHED))
        ):
            remaining[archive] += 1
    return {
        "domains": domains,
        "planned": planned,
        "quality_scores": scores,
        "remaining_unfinished": dict(remaining),
    }


def write(root: Path, summary: dict[str, Any], samples: list[dict[str, Any]]) -> tuple[Path, Path]:
    out = root / "reports"
    out.mkdir(parents=True, exist_ok=True)
    run_id = summary["run_id"]
    json_path = out / f"{run_id}.json"
    json_path.write_text(json.dumps(summary, indent=2, default=str))
    html_path = out / f"{run_id}.html"
    html_path.write_text(render(summary, samples))
    return json_path, html_path


def render(summary: dict[str, Any], samples: list[dict[str, Any]]) -> str:
    esc = html.escape
    domains = summary["outcomes"]["domains"]
    names = list(domains) or ["(none)"]
    byte_plot = plots.bars(
        names,
        [domains[d]["bytes"] / 1e6 if d in domains else 0 for d in names],
        "Bytes per domain",
        "MB",
    )
    q_plot = plots.histogram(
        summary["outcomes"]["quality_scores"] or [0.0],
        "Quality score distribution",
        "score",
        [(summary["options"].get("quality_threshold", 0.9), "threshold")],
    )
    ts = [s["t"] for s in samples] or [0.0]
    rates = [0.0]
    for a, b in pairwise(samples):
        dt = max(1e-6, b["t"] - a["t"])
        rates.append((b["bytes"] - a["bytes"]) / dt / 1e6)
    tp_plot = plots.line(ts[: len(rates)], rates, "Throughput over time", "seconds", "MB/s")
    rows = []
    for d, info in domains.items():
        for archive, by_status in info["archives"].items():
            cells = ", ".join(f"{s}: {v['files']} ({v['bytes']} B)" for s, v in by_status.items())
            rows.append(f"<tr><td>{esc(d)}</td><td>{esc(archive)}</td><td>{esc(cells)}</td></tr>")
    spiders = "".join(
        f"<tr><td>{esc(n)}</td><td>{esc(str(v.get('finish_reason')))}</td></tr>"
        for n, v in summary.get("spiders", {}).items()
    )
    alerts = "".join(f"<li>{esc(a)}</li>" for a in summary.get("alerts", [])) or "<li>none</li>"
    reason = ": " + esc(str(summary["reason"])) if summary.get("reason") else ""
    dry = "Dry run: nothing downloaded." if summary["options"].get("dry_run") else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>capture run {esc(summary["run_id"])}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{border:1px solid #ccc;padding:2px 6px}}
table{{border-collapse:collapse}}</style></head><body>
<h1>Run {esc(summary["run_id"])}</h1>
<p>Status <b>{esc(str(summary["status"]))}</b>{reason}.
Started {esc(str(summary.get("started_at")))}, finished {esc(str(summary.get("finished_at")))}.
{dry}</p>
<h2>Plots</h2>
<img id="bytes-per-domain" alt="bytes per domain" src="{byte_plot}">
<img id="quality-distribution" alt="quality distribution" src="{q_plot}">
<img id="throughput" alt="throughput over time" src="{tp_plot}">
<h2>Files by domain and archive</h2>
<table><tr><th>domain</th><th>archive</th><th>outcomes</th></tr>{"".join(rows)}</table>
<h2>Spiders</h2><table><tr><th>spider</th><th>finish reason</th></tr>{spiders}</table>
<h2>Health alerts</h2><ul>{alerts}</ul>
<h2>Budget</h2><pre>{esc(json.dumps(summary.get("budget"), indent=2))}</pre>
</body></html>
"""
