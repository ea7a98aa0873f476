"""Tables: CSV/TSV (the Exoplanet Archive quotes every value), VOTable (astropy's W/E codes,
TAP error documents), IPAC; header, ragged rows, truncation, row counts the archive reported,
and physical ranges of well-known columns."""

from __future__ import annotations

import csv
import io
import math
import warnings

from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext
from capture.quality.scorers.text import text_checks
from capture.tapcsv import UnterminatedQuote, split_lines

# Plausible physical ranges (Exoplanet Archive column names; NASA Exoplanet Archive docs).
RANGES: dict[str, tuple[float, float]] = {
    "st_teff": (300.0, 100_000.0),
    "st_logg": (-2.0, 10.0),
    "st_met": (-6.0, 3.0),
    "st_rad": (0.001, 3000.0),
    "st_mass": (0.001, 500.0),
    "pl_orbper": (0.0, 1e9),
    "pl_rade": (0.0, 1000.0),
    "sy_dist": (0.0, 1e6),
    "ra": (0.0, 360.0),
    "dec": (-90.0, 90.0),
}
TAP_ERROR = b'name="QUERY_STATUS" value="ERROR"'
# Archives whose CSV writer does not escape embedded quotes by design (see capture.tapcsv).
UNESCAPED_QUOTE_ARCHIVES = frozenset({"nasa_exoplanet_archive"})


def score_delimited(ctx: ScoreContext, delimiter: str) -> Checks:
    checks = Checks("python csv")
    sample = ctx.head(ctx.sample_bytes)
    if TAP_ERROR in sample[:8192]:
        checks.failed(
            "table.not_error_document",
            Tier.CONTAINER,
            Severity.HIGH,
            "the body is a TAP/VOTable error document, not a table",
        )
        return checks
    text = text_checks(ctx, checks, sample, tier_for_nul=Tier.CONFORMANCE)
    complete = len(sample) >= (ctx.size or 0)
    if not complete:  # a sample: drop the last, probably partial line
        text = text[: text.rfind("\n") + 1]
    ends_cleanly = sample.endswith((b"\n", b"\r")) or not complete
    with checks.run("table.parse", Tier.CONTAINER, Severity.HIGH):
        rows = _parse_delimited(ctx, checks, text, delimiter)
        checks.passed(
            "table.parse",
            Tier.CONTAINER,
            Severity.HIGH,
            f"parsed {'sample of ' if not complete else ''}{len(rows)} lines",
        )
        _table_rows(ctx, checks, rows, complete, ends_cleanly)
    return checks


def _parse_delimited(
    ctx: ScoreContext, checks: Checks, text: str, delimiter: str
) -> list[list[str]]:
    """RFC 4180 first; failing that, the unescaped-quote rule some archives' writers follow.

    A table only the lenient rule reads is still whole and usable, so the quoting is scored as
    a conformance check, not as a broken container; an unterminated quote fails both readers.
    """
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        return list(reader)
    except csv.Error as exc:
        strict_error = exc
        try:
            rows = split_lines(text, delimiter)
        except UnterminatedQuote:
            raise exc from None
    convention = ctx.archive in UNESCAPED_QUOTE_ARCHIVES
    checks.add(
        "table.quoting",
        Tier.CONFORMANCE,
        Severity.LOW,
        Outcome.PASS if convention else Outcome.FAIL,
        (
            "embedded quotes unescaped, as this archive's TAP writer prints them"
            if convention
            else f"not RFC 4180 ({strict_error}); read with the unescaped-quote rule"
        ),
        f"line {reader.line_num}",
    )
    return rows


def _table_rows(
    ctx: ScoreContext, checks: Checks, rows: list[list[str]], complete: bool, ends_cleanly: bool
) -> None:
    rows = [r for r in rows if r and not (len(r) == 1 and r[0].startswith("#"))]
    if not rows:
        checks.failed("table.header", Tier.CONFORMANCE, Severity.HIGH, "no header row")
        return
    header, data = rows[0], rows[1:]
    names = [h.strip() for h in header]
    dupes = sorted({n for n in names if names.count(n) > 1})
    checks.check(
        "table.header",
        Tier.CONFORMANCE,
        Severity.HIGH,
        all(names) and not dupes,
        f"{len(names)} named, unique columns",
        f"empty or duplicate column names {dupes[:5]}",
        "row 1",
    )
    ragged = [i + 2 for i, r in enumerate(data) if len(r) != len(header)]
    last_ragged = bool(data) and len(data[-1]) != len(header)
    if complete and (last_ragged or not ends_cleanly):
        checks.failed(
            "table.complete",
            Tier.CONTAINER,
            Severity.HIGH,
            f"last row {_last_row_problem(data, last_ragged)}"
            f" (expected {len(header)}): table truncated",
            f"row {len(data) + 1}",
        )
    else:
        checks.passed("table.complete", Tier.CONTAINER, Severity.HIGH, "last row complete")
    if data:
        good = len(data) - len(ragged)
        checks.add(
            "table.consistent_rows",
            Tier.CONFORMANCE,
            Severity.HIGH,
            Outcome.PASS if not ragged else Outcome.FAIL,
            f"{good}/{len(data)} rows have {len(header)} fields"
            + (f"; first bad row {ragged[0]}" if ragged else ""),
            f"row {ragged[0]}" if ragged else None,
            credit=good / len(data),
        )
    reported = ctx.metadata.get("reported_row_count")
    if reported is not None and complete:
        checks.check(
            "table.row_count",
            Tier.PLAUSIBILITY,
            Severity.HIGH,
            len(data) == int(reported),
            f"{len(data)} rows as the archive reported",
            f"{len(data)} rows, the archive reported {reported}",
        )
    _ranges(checks, names, data)


def _last_row_problem(data: list[list[str]], ragged: bool) -> str:
    return f"has {len(data[-1])} fields" if ragged else "is unterminated"


def _ranges(checks: Checks, names: list[str], data: list[list[str]]) -> None:
    for col, (lo, hi) in RANGES.items():
        if col not in names:
            continue
        idx = names.index(col)
        values = []
        for row in data:
            if idx < len(row) and row[idx].strip():
                try:
                    values.append(float(row[idx]))
                except ValueError:
                    values.append(math.nan)
        if not values:
            continue
        good = sum(1 for v in values if lo <= v <= hi)
        checks.fraction(
            "table.physical_range",
            Tier.PLAUSIBILITY,
            Severity.MEDIUM,
            good,
            len(values),
            f"{col} values within [{lo:g}, {hi:g}]",
            f"column {col}",
        )


def score_csv(ctx: ScoreContext) -> Checks:
    return score_delimited(ctx, ",")


def score_tsv(ctx: ScoreContext) -> Checks:
    return score_delimited(ctx, "\t")


def score_votable(ctx: ScoreContext) -> Checks:
    from astropy import __version__ as astropy_version
    from astropy.io.votable import parse
    from astropy.io.votable.exceptions import VOTableSpecWarning, VOWarning

    checks = Checks("astropy.io.votable", astropy_version)
    head = ctx.head(8192)
    if TAP_ERROR in head:
        checks.failed(
            "votable.query_status",
            Tier.CONTAINER,
            Severity.HIGH,
            "QUERY_STATUS is ERROR: the service returned an error document",
        )
        return checks
    with checks.run("votable.parse", Tier.CONTAINER, Severity.HIGH):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            vot = parse(ctx.path, verify="warn")
        checks.passed("votable.parse", Tier.CONTAINER, Severity.HIGH, "parsed as VOTable")
        codes = sorted(
            {
                type(w.message).__name__
                for w in caught
                if issubclass(w.category, VOWarning | VOTableSpecWarning)
            }
        )
        checks.check(
            "votable.spec",
            Tier.CONFORMANCE,
            Severity.MEDIUM,
            not codes,
            "no VOTable W/E warnings",
            f"VOTable warnings: {', '.join(codes[:8])}",
        )
        tables = list(vot.iter_tables())
        checks.check(
            "votable.tables",
            Tier.CONFORMANCE,
            Severity.HIGH,
            bool(tables),
            f"{len(tables)} table(s)",
            "no TABLE element",
        )
        rows = sum(len(t.array) for t in tables)
        reported = ctx.metadata.get("reported_row_count")
        if reported is not None:
            checks.check(
                "table.row_count",
                Tier.PLAUSIBILITY,
                Severity.HIGH,
                rows == int(reported),
                f"{rows} rows as reported",
                f"{rows} rows, the archive reported {reported}",
            )
    return checks


def score_ipac(ctx: ScoreContext) -> Checks:
    from astropy import __version__ as astropy_version
    from astropy.table import Table

    checks = Checks("astropy.table (ipac)", astropy_version)
    with checks.run("ipac.parse", Tier.CONTAINER, Severity.HIGH):
        table = Table.read(ctx.path, format="ipac")
        checks.passed(
            "ipac.parse",
            Tier.CONTAINER,
            Severity.HIGH,
            f"{len(table)} rows, {len(table.colnames)} columns",
        )
        checks.check(
            "ipac.columns",
            Tier.CONFORMANCE,
            Severity.MEDIUM,
            bool(table.colnames),
            "columns declared",
            "no columns",
        )
    return checks
