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
from capture.catalog.schema import events, files
from capture.reports import plots
from capture.status import ON_DISK, UNFINISHED, FileStatus


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
            if status == FileStatus.PLANNED:
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
            if status in ON_DISK or status == FileStatus.PLANNED:
                domains[domain]["bytes"] += nbytes
            q_data = quality if isinstance(quality, dict) else json.loads(quality or "null")
            if q_data and status in ON_DISK and q_data.get("score") is not None:
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
    # A plot is drawn only from data: an empty run gets a sentence, not a fake bar at 0.
    names = [d for d in domains if domains[d]["bytes"]]
    figures = []
    if names:
        src = plots.bars(
            names, [domains[d]["bytes"] / 1e6 for d in names], "Bytes per domain", "MB"
        )
        figures.append(f'<img id="bytes-per-domain" alt="bytes per domain" src="{src}">')
    scores = summary["outcomes"]["quality_scores"]
    if scores:
        src = plots.histogram(
            scores,
            "Quality score distribution",
            "score",
            [(summary["options"].get("quality_threshold", 0.9), "threshold")],
        )
        figures.append(f'<img id="quality-distribution" alt="quality distribution" src="{src}">')
    if len(samples) > 1 and samples[-1]["bytes"] > samples[0]["bytes"]:
        ts = [s["t"] for s in samples]
        rates = [0.0]
        for a, b in pairwise(samples):
            dt = max(1e-6, b["t"] - a["t"])
            rates.append((b["bytes"] - a["bytes"]) / dt / 1e6)
        src = plots.line(ts, rates, "Throughput over time", "seconds", "MB/s")
        figures.append(f'<img id="throughput" alt="throughput over time" src="{src}">')
    plots_html = "\n".join(figures) or "<p>No bytes were captured: nothing to plot.</p>"
    rows = []
    for d, info in domains.items():
        if d == "software_ops":
            continue  # the run's own bundle: listed apart below
        for archive, by_status in info["archives"].items():
            cells = ", ".join(f"{s}: {v['files']} ({v['bytes']} B)" for s, v in by_status.items())
            rows.append(f"<tr><td>{esc(d)}</td><td>{esc(archive)}</td><td>{esc(cells)}</td></tr>")
    files_table = (
        "<table><tr><th>domain</th><th>archive</th><th>files by outcome</th></tr>"
        + "".join(rows)
        + "</table>"
        if rows
        else "<p>No archive file settled in this run.</p>"
    )
    ops = domains.get("software_ops", {}).get("files", 0)
    ops_line = f"<p>The run's own ops bundle: {ops} file(s) (counted apart).</p>" if ops else ""
    outcome_rows = []
    spiders = summary.get("spiders", {})
    for d, info in summary.get("domains", {}).items():
        for name, outcome in info.get("archives", {}).items():
            why = spiders.get(name, {}).get("why") or ""
            outcome_rows.append(
                f"<tr class='{esc(outcome)}'><td>{esc(d)}</td><td>{esc(info['outcome'])}</td>"
                f"<td>{esc(name)}</td><td><b>{esc(outcome)}</b></td><td>{esc(why)}</td></tr>"
            )
    outcome_table = (
        "<table id='archive-outcomes'><tr><th>domain</th><th>domain outcome</th>"
        "<th>archive</th><th>outcome</th><th>why</th></tr>" + "".join(outcome_rows) + "</table>"
    )
    alerts = "".join(
        f"<li><b>{esc(a['kind'])}</b>: {esc(a['message'])}</li>" for a in summary.get("alerts", [])
    )
    alerts_html = f"<ul id='alerts'>{alerts}</ul>" if alerts else "<p>No alerts.</p>"
    fail_rows = []
    for g in (summary.get("failures") or {}).get("groups", []):
        examples = "<br>".join(
            f"{esc(f['path'])}: {esc(str(f['message'] or ''))}" for f in g["files"][:5]
        )
        fail_rows.append(
            f"<tr><td>{esc(g['archive'])}</td><td>{esc(g['cause'])}</td>"
            f"<td>{esc(g['status'])}</td><td>{g['count']}</td><td>{esc(g['advice'])}</td>"
            f"<td>{examples}</td></tr>"
        )
    failures_html = (
        "<table id='failures'><tr><th>archive</th><th>cause</th><th>status</th><th>files</th>"
        "<th>what to do</th><th>examples (archive's message)</th></tr>"
        + "".join(fail_rows)
        + "</table>"
        if fail_rows
        else "<p>No file failed or was quarantined.</p>"
    )
    plan_html = ""
    plan = summary.get("plan")
    if plan:
        plan_rows = "".join(
            f"<tr><td>{esc(d)}</td><td>{esc(a)}</td><td>{v['files']}</td>"
            f"<td>{v['bytes']}</td><td>{v['unknown_size']}</td>"
            f"<td>{esc(str(v.get('outcome') or ''))}</td></tr>"
            for d, info in plan["domains"].items()
            for a, v in info["archives"].items()
        )
        plan_html = (
            f"<h2>Plan</h2><p>{esc(plan.get('verdict') or '')}</p>"
            "<table id='plan'><tr><th>domain</th><th>archive</th><th>files</th><th>bytes</th>"
            f"<th>unknown size</th><th>outcome</th></tr>{plan_rows}</table>"
        )
    budget = summary.get("budget")
    budget_html = ""
    if budget:
        brow = "".join(
            f"<tr><td>{esc(k)}</td><td>{esc(str(v))}</td></tr>"
            for k, v in budget.items()
            if v is not None
        )
        budget_html = f"<h2>Budget</h2><table>{brow}</table>"
    reason = ": " + esc(str(summary["reason"])) if summary.get("reason") else ""
    dry = "Dry run: nothing downloaded." if summary["options"].get("dry_run") else ""
    code = summary.get("exit_code")
    code_html = f" Exit code {code}." if code is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>capture run {esc(summary["run_id"])}</title>
<style>body{{font-family:sans-serif;margin:2em}} td,th{{border:1px solid #ccc;padding:2px 6px}}
table{{border-collapse:collapse}} tr.unreachable,tr.failed{{background:#fdd}}
tr.partial{{background:#ffd}}</style></head><body>
<h1>Run {esc(summary["run_id"])}</h1>
<p>Status <b id="status">{esc(str(summary["status"]))}</b>{reason}.{code_html}
Started {esc(str(summary.get("started_at")))}, finished {esc(str(summary.get("finished_at")))}.
{dry}</p>
<h2>Health alerts</h2>{alerts_html}
<h2>Archives</h2>{outcome_table}
{plan_html}
<h2>Failures and quarantine, by cause</h2>{failures_html}
<h2>Plots</h2>
{plots_html}
<h2>Files by domain and archive</h2>
{files_table}
{ops_line}
{budget_html}
</body></html>
"""
