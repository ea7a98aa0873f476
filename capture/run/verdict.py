"""What a finished round says about itself: each archive's and domain's outcome, the run's
status, its health alerts and its dry-run plan against the budgets.

Pure functions over the run state and the crawlers' stats, so the orchestrator only gathers
facts and the rules are testable on their own.
"""

from __future__ import annotations

from typing import Any

from capture.domains import BUNDLE_DOMAINS
from capture.outcomes import GOOD, combine
from capture.status import ATTEMPTED, FileStatus, stat_key
from capture.units import human_bytes as human

#: The mission's target: "Download success rate > 98% of attempts".
SUCCESS_TARGET = 0.98


def run_status(archives: dict[str, dict[str, Any]], interrupted: bool) -> str:
    """``finished`` only if every archive completed or was skipped by design."""
    outcomes = [a.get("outcome", "failed") for a in archives.values()]
    if interrupted:
        return "interrupted"
    if all(o in GOOD for o in outcomes):
        return "finished"
    if all(o in ("failed", "unreachable", "skipped") for o in outcomes):
        return "failed"
    return "partial"


def domain_outcomes(
    plan: list[tuple[str, list[str]]], archives: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for domain, names in plan:
        names = [n for n in names if n in archives]
        if domain in BUNDLE_DOMAINS:
            out[domain] = {
                "outcome": "completed",
                "archives": {},
                "why": "the run's own logs, catalog snapshot and reports (ops bundle)",
            }
            continue
        if not names:
            out[domain] = {"outcome": "skipped", "archives": {}, "why": "no spider serves it"}
            continue
        per = {n: archives[n].get("outcome", "failed") for n in names}
        out[domain] = {"outcome": combine(list(per.values())), "archives": per}
    return out


def alerts(
    archives: dict[str, dict[str, Any]],
    max_quarantine_rate: float,
    monitor_alerts: list[str],
) -> list[dict[str, str]]:
    """Run-level health alerts (the crawl monitors' own alerts are kept as they are)."""
    out = [{"kind": "monitor", "message": m} for m in monitor_alerts]
    attempted = failed = quarantined = 0
    for name, a in archives.items():
        c = a.get("counts") or {}
        if a.get("outcome") == "unreachable":
            out.append(
                {
                    "kind": "unreachable",
                    "message": f"{name}: archive unreachable: {a.get('why')}",
                }
            )
        elif a.get("outcome") == "failed":
            out.append({"kind": "failed", "message": f"{name}: failed: {a.get('why')}"})
        attempted += sum(c.get(s, 0) for s in ATTEMPTED)
        failed += c.get(FileStatus.FAILED, 0)
        quarantined += c.get(FileStatus.QUARANTINED, 0)
    if attempted:
        rate = (attempted - failed) / attempted
        if rate < SUCCESS_TARGET:
            out.append(
                {
                    "kind": "success_rate",
                    "message": f"download success rate {rate:.1%} ({attempted - failed} of "
                    f"{attempted} attempts) is below the mission's {SUCCESS_TARGET:.0%}",
                }
            )
        q_rate = quarantined / attempted
        if quarantined and q_rate > max_quarantine_rate:
            out.append(
                {
                    "kind": "quarantine_spike",
                    "message": f"{quarantined} of {attempted} files quarantined "
                    f"({q_rate:.0%} > {max_quarantine_rate:.0%})",
                }
            )
    return out


def dry_run_plan(
    plan: list[tuple[str, list[str]]],
    archives: dict[str, dict[str, Any]],
    budget_bytes: int | None,
) -> dict[str, Any]:
    """Planned files and bytes per domain and archive (unknown sizes counted apart), set
    against the download budget in priority order."""
    domains: dict[str, Any] = {}
    total = {"files": 0, "bytes": 0, "unknown_size": 0}
    stop_in: str | None = None
    running = 0
    for domain, names in plan:
        d: dict[str, Any] = {"files": 0, "bytes": 0, "unknown_size": 0, "archives": {}}
        for name in names:
            a = archives.get(name) or {}
            stats = a.get("stats") or {}
            files = int(stats.get(stat_key(FileStatus.PLANNED), 0) or 0)
            nbytes = int(stats.get("capture/planned_bytes", 0) or 0)
            unknown = int(stats.get("capture/planned_unknown_size", 0) or 0)
            d["archives"][name] = {
                "files": files,
                "bytes": nbytes,
                "unknown_size": unknown,
                "outcome": a.get("outcome"),
                **({"why": a["why"]} if a.get("why") else {}),
            }
            for k, v in (("files", files), ("bytes", nbytes), ("unknown_size", unknown)):
                d[k] += v
                total[k] += v
        running += d["bytes"]
        if budget_bytes is not None and stop_in is None and running > budget_bytes:
            stop_in = domain
        domains[domain] = d
    verdict = None
    if budget_bytes is not None:
        if stop_in:
            verdict = (
                f"planned {human(total['bytes'])}, budget {human(budget_bytes)}: the round "
                f"would stop in {stop_in}"
            )
        else:
            verdict = (
                f"planned {human(total['bytes'])} fits the budget of {human(budget_bytes)}"
                + (
                    f" ({total['unknown_size']} file(s) of unknown size not counted)"
                    if total["unknown_size"]
                    else ""
                )
            )
    return {
        **total,
        "domains": domains,
        "budget_bytes": budget_bytes,
        "would_stop_in": stop_in,
        "verdict": verdict,
    }
