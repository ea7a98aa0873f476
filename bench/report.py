"""Plain-text tables of a results dict (what ``python -m bench run`` prints at the end)."""

from __future__ import annotations

from typing import Any

BIG_COLUMNS = (
    ("contender", "{}", 22),
    ("wall s", "{:.2f}", 8),
    ("samples", "{}", 18),
    ("MB/s", "{:.0f}", 7),
    ("peak RSS MB", "{:.1f}", 11),
    ("tree RSS MB", "{:.1f}", 11),
    ("CPU s", "{:.2f}", 7),
    ("verified", "{}", 8),
)
SMALL_COLUMNS = (
    ("contender", "{}", 22),
    ("wall s", "{:.2f}", 8),
    ("samples", "{}", 18),
    ("files/s", "{:.0f}", 8),
    ("MB/s", "{:.1f}", 6),
    ("peak RSS MB", "{:.1f}", 11),
    ("tree RSS MB", "{:.1f}", 11),
    ("CPU s", "{:.2f}", 7),
    ("verified", "{}", 8),
)


def _row(name: str, entry: dict[str, Any]) -> dict[str, Any]:
    s = entry["summary"]
    walls = ",".join(f"{x['wall_s']:.2f}" for x in entry["samples"])
    return {
        "contender": name,
        "wall s": s["wall_s"],
        "samples": walls,
        "MB/s": s["mb_per_s"],
        "files/s": s["files_per_s"],
        "peak RSS MB": s["peak_rss_mb"],
        "tree RSS MB": s["tree_rss_mb"],
        "CPU s": s["cpu_s"],
        "verified": "yes" if s["all_ok"] else "NO",
    }


def table(scenario: dict[str, Any], columns: tuple[tuple[str, str, int], ...]) -> str:
    titles = [f"{t:>{w}}" if i else f"{t:<{w}}" for i, (t, _, w) in enumerate(columns)]
    head = "  ".join(titles)
    lines = [head, "-" * len(head)]
    for name, entry in scenario["contenders"].items():
        row = _row(name, entry)
        cells = []
        for i, (title, fmt, w) in enumerate(columns):
            value = row[title]
            text = "-" if value is None else fmt.format(value)
            cells.append(f"{text:>{w}}" if i else f"{text:<{w}}")
        lines.append("  ".join(cells))
    return "\n".join(lines)


def verdict_lines(scenario: dict[str, Any]) -> list[str]:
    """A scenario's ratios, targets (PASS/FAIL) and notes, one line each."""
    out = [
        f"  ratio {ratio:<32} {'-' if value is None else f'{value:.3f}'}"
        for ratio, value in scenario["ratios"].items()
    ]
    out += [
        f"  target {target:<62} {'PASS' if passed else 'FAIL'}"
        for target, passed in scenario["targets"].items()
    ]
    return out + [f"  note: {note}" for note in scenario["notes"]]


def load_lines(results: dict[str, Any]) -> list[str]:
    """The machine's load when the measurements started and ended."""
    out = []
    for when in ("load_at_start", "load_at_end"):
        snap = results["machine"].get(when)
        if snap:
            loads = ", ".join(f"{x:.2f}" for x in snap["loadavg"])
            psi = " ".join(f"{k[4:].split('_')[0]}={v:g}%" for k, v in snap.items() if "psi" in k)
            out.append(f"{when.replace('_', ' ')}: loadavg {loads}; PSI some avg60 {psi}")
    return out


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    server = results["server"]
    out.append(f"server: {server['kind']} ({server['version']}) {server['note']}".rstrip())
    for name, scenario in results["scenarios"].items():
        columns = BIG_COLUMNS if name in ("big", "ftp") else SMALL_COLUMNS
        size = scenario["bytes"] / 2**20
        out.append("")
        repeat = results["config"]["repeat"]
        out.append(
            f"== scenario {name}: {scenario['files']} file(s), {size:.0f} MiB, repeat {repeat} "
            "(wall s = median; samples in run order)"
        )
        out.append(table(scenario, columns))
        cap = scenario["contenders"].get("capture", {}).get("summary", {})
        if "crawl_elapsed_s" in cap:
            out.append(
                f"  capture split: crawl {cap['crawl_elapsed_s']:.2f} s (Scrapy elapsed time) "
                f"+ process start-up/shutdown {cap['startup_shutdown_s']:.2f} s"
            )
        out += verdict_lines(scenario)
    out += load_lines(results)
    for note in results["notes"]:
        out.append(f"note: {note}")
    return "\n".join(out)
