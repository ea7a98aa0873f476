"""``capture quality report``: the quality of a run, file by file and check by check.

JSON for tools (shaped after Frictionless reports: a summary, then one task per file with its
checks and their exact contributions to the score) and an HTML page for people, with the score
distribution as a plot.
"""

from __future__ import annotations

import html
import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from capture.catalog import Catalog
from capture.catalog.schema import files, quality_checks, runs
from capture.reports import plots


def latest_run(catalog: Catalog) -> str | None:
    with catalog.engine.connect() as conn:
        row = conn.execute(select(runs.c.run_id).order_by(runs.c.started_at.desc())).first()
    return row[0] if row else None


def collect(catalog: Catalog, run_id: str | None) -> dict[str, Any]:
    """Files scored in ``run_id`` (or all files) with their latest set of checks."""
    with catalog.engine.connect() as conn:
        q = select(
            quality_checks,
            files.c.archive,
            files.c.archive_path,
            files.c.domain,
            files.c.state,
            files.c.quality,
        ).join(files, files.c.id == quality_checks.c.file_id)
        if run_id:
            q = q.where(quality_checks.c.run_id == run_id)
        rows = [dict(r) for r in conn.execute(q.order_by(quality_checks.c.id)).mappings()]
    per_file: dict[int, dict[str, Any]] = {}
    for r in rows:
        entry = per_file.setdefault(
            r["file_id"],
            {
                "file_id": r["file_id"],
                "archive": r["archive"],
                "domain": r["domain"],
                "archive_path": r["archive_path"],
                "state": r["state"],
                "scored_at": r["scored_at"],
                "quality": r["quality"]
                if isinstance(r["quality"], dict)
                else json.loads(r["quality"] or "null"),
                "checks": [],
            },
        )
        if r["scored_at"] > entry["scored_at"]:  # a later scoring supersedes earlier checks
            entry["scored_at"], entry["checks"] = r["scored_at"], []
        if r["scored_at"] == entry["scored_at"]:
            entry["checks"].append(
                {
                    k: r[k]
                    for k in (
                        "check_id",
                        "tier",
                        "severity",
                        "weight",
                        "outcome",
                        "credit",
                        "contribution",
                        "message",
                        "location",
                        "tool",
                        "tool_version",
                        "duration_ms",
                    )
                }
            )
    return {"run_id": run_id, "files": list(per_file.values())}


def summarise(data: dict[str, Any]) -> dict[str, Any]:
    files_ = data["files"]
    grades = Counter((f["quality"] or {}).get("grade", "unknown") for f in files_)
    scores = [float((f["quality"] or {}).get("score") or 0.0) for f in files_]
    failing: Counter[str] = Counter()
    by_archive: dict[str, list[float]] = defaultdict(list)
    for f, s in zip(files_, scores, strict=True):
        by_archive[f["archive"]].append(s)
        for c in f["checks"]:
            if c["outcome"] in ("fail", "error"):
                failing[c["check_id"]] += 1
    return {
        "files": len(files_),
        "grades": dict(grades),
        "mean_score": round(sum(scores) / len(scores), 4) if scores else None,
        "score_histogram": _histogram(scores),
        "failing_checks": dict(failing.most_common()),
        "mean_score_by_archive": {a: round(sum(v) / len(v), 4) for a, v in by_archive.items()},
    }


def _histogram(scores: list[float], bins: int = 10) -> list[dict[str, Any]]:
    counts = [0] * bins
    for s in scores:
        counts[min(bins - 1, int(s * bins))] += 1
    return [{"from": i / bins, "to": (i + 1) / bins, "files": n} for i, n in enumerate(counts)]


def write_report(
    catalog: Catalog, root: Path, run_id: str | None, thresholds: tuple[float, float]
) -> tuple[Path, Path]:
    data = collect(catalog, run_id)
    summary = summarise(data)
    stamp = datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    out_dir = root / "quality_reports"
    out_dir.mkdir(parents=True, exist_ok=True)
    base = out_dir / f"quality_{run_id or 'all'}_{stamp}"
    report = {
        "report": "capture quality report",
        "generated_at": stamp,
        "run_id": run_id,
        "thresholds": {"quality": thresholds[0], "nasa_grade": thresholds[1]},
        "summary": summary,
        "tasks": data["files"],
    }
    json_path = base.with_suffix(".json")
    json_path.write_text(json.dumps(report, indent=2, default=str))
    html_path = base.with_suffix(".html")
    html_path.write_text(render_html(report))
    return json_path, html_path


def render_html(report: dict[str, Any]) -> str:
    summary = report["summary"]
    scores = [float((f["quality"] or {}).get("score") or 0.0) for f in report["tasks"]]
    t = report["thresholds"]
    plot = plots.histogram(
        scores,
        "Quality score distribution",
        "score",
        [(t["quality"], "quarantine below"), (t["nasa_grade"], "NASA grade")],
    )
    esc = html.escape
    rows = []
    for f in sorted(report["tasks"], key=lambda f: (f["quality"] or {}).get("score") or 0):
        q = f["quality"] or {}
        checks = "".join(
            f"<tr class='{esc(c['outcome'])}'><td>{esc(c['check_id'])}</td>"
            f"<td>{esc(c['tier'])}</td>"
            f"<td>{esc(c['severity'])}</td><td>{c['weight']}</td><td>{esc(c['outcome'])}</td>"
            f"<td>{(c['contribution'] or 0):.4f}</td><td>{esc(c['message'] or '')}</td>"
            f"<td>{esc(c['location'] or '')}</td><td>{esc(c['tool'] or '')} "
            f"{esc(c['tool_version'] or '')}</td></tr>"
            for c in f["checks"]
        )
        rows.append(
            f"<details><summary><b>{esc(f['archive'])}</b> {esc(f['archive_path'])} — score "
            f"{q.get('score', 0):.3f}, <span class='grade {esc(str(q.get('grade')))}'>"
            f"{esc(str(q.get('grade')))}</span></summary><table><tr><th>check</th><th>tier</th>"
            f"<th>severity</th><th>weight</th><th>outcome</th><th>contribution</th>"
            f"<th>evidence</th><th>location</th><th>tool</th></tr>{checks}</table></details>"
        )
    grades = "".join(f"<li>{esc(k)}: {v}</li>" for k, v in summary["grades"].items())
    failing = "".join(
        f"<li>{esc(k)}: {v}</li>" for k, v in list(summary["failing_checks"].items())[:20]
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Quality report {esc(str(report["run_id"]))}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:2px 6px}} tr.fail td,tr.error td{{background:#fdd}}
tr.absent td{{background:#ffd}} .grade.quarantined{{color:#b00}} .grade.nasa_grade{{color:#070}}
</style></head><body>
<h1>Quality report</h1>
<p>Run <code>{esc(str(report["run_id"]))}</code>, generated {esc(report["generated_at"])} UTC.
Thresholds: quarantine below {t["quality"]}, NASA grade from {t["nasa_grade"]}.
Score = weighted mean over applicable checks (HIGH 3, MEDIUM 2, LOW 1); transport and container
failures are gates (score 0). Each check's contribution below is its exact share of the score.</p>
<h2>Summary</h2><p>{summary["files"]} files, mean score {summary["mean_score"]}</p>
<ul>{grades}</ul>
<img id="score-distribution" alt="score distribution" src="{plot}">
<h2>Most frequent failing checks</h2><ul>{failing}</ul>
<h2>Files (lowest score first)</h2>
{"".join(rows)}
</body></html>
"""
