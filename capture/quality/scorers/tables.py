"""Tables: CSV/TSV (RFC 4180, and the Exoplanet Archive's unescaped quotes), VOTable (astropy's
E/W codes with their locations, service error documents), IPAC; header, ragged rows, truncation
judged from the last row, row counts the archive reported, and physical ranges of well-known
columns."""

from __future__ import annotations

import csv
import io
import math
import re
import warnings
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from capture.formats.tapcsv import UnterminatedQuote, records, split_record
from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext
from capture.quality.scorers.text import text_checks

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
# Archives whose CSV writer does not escape embedded quotes by design (see capture.formats.tapcsv).
UNESCAPED_QUOTE_ARCHIVES = frozenset({"nasa_exoplanet_archive"})
# Bytes read from the end of a table too big to read whole, to judge its last rows.
TAIL_BYTES = 64 * 1024
# astropy builds the whole table in memory at ~12 MB/s: above this (about 10 s of a scoring
# budget), a VOTable is streamed through expat instead and an IPAC table is not read whole.
VOTABLE_PARSE_MAX = 128 * 1024 * 1024
# A DALI/TAP status INFO: <INFO name="QUERY_STATUS" value="ERROR">message</INFO>.
_INFO_TAG = re.compile(rb"<(?:[\w.-]+:)?INFO\b([^>]*?)(/?)>", re.S)
_ATTR = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# astropy's VOTable warnings and errors read "<source>:<line>:<col>: <code>: <message>".
_VO_MESSAGE = re.compile(r"(\d+|\?):(\d+|\?): ([EW]\d\d): (.*)$", re.S)
# Errors of astropy's XML reader (expat): "<line>:<col>: <message>".
_XML_ERROR = re.compile(r"^(\d+):(\d+): (.*)$", re.S)

_HTML_LINE = re.compile(r"^[ \t]*<(?:!doctype\s+html|html[\s>])", re.I | re.M)

Row = tuple[int, list[str]]  # (line number where the record starts, fields)


# -- CSV / TSV --------------------------------------------------------------------------------
def score_csv(ctx: ScoreContext) -> Checks:
    return score_delimited(ctx, ",")


def score_tsv(ctx: ScoreContext) -> Checks:
    return score_delimited(ctx, "\t")


def score_delimited(ctx: ScoreContext, delimiter: str) -> Checks:
    """A delimited table: parses, named unique columns, rows as wide as the header, and a
    last row that is whole.

    RFC 4180 lets the last record go without a line break, so truncation is judged from the
    last row itself: too few fields, an open quote, or a last value unlike its column."""
    checks = Checks("python csv")
    sample = ctx.head(ctx.sample_bytes)
    if _markup_instead_of_table(checks, sample):
        return checks
    # NUL bytes in a text table are zero-filled or binary corruption, never data.
    text = text_checks(ctx, checks, sample, tier_for_nul=Tier.CONTAINER)
    complete = len(sample) >= (ctx.size or 0)
    if not complete:  # a sample: drop the last, probably partial line
        text = text[: text.rfind("\n") + 1]
    _embedded_page(ctx, checks, text, complete)
    rows: list[Row] | None = None
    with checks.run("table.parse", Tier.CONTAINER, Severity.HIGH):
        rows = _parse_delimited(ctx, checks, text, delimiter, complete)
    if rows is None:
        return checks
    with checks.run("table.rows", Tier.CONFORMANCE, Severity.HIGH):
        _table_rows(ctx, checks, rows, complete, sample, delimiter)
    return checks


def _markup_instead_of_table(checks: Checks, sample: bytes) -> bool:
    """A service's XML answer (a VOTable error document) saved where a table was expected."""
    if sample.lstrip()[:1] != b"<":
        return False
    error = votable_error_text(sample[:65536])
    checks.failed(
        "table.not_error_document",
        Tier.CONTAINER,
        Severity.HIGH,
        f"the body is a service error document, not a table: {error}"
        if error
        else "the body is XML/HTML markup, not a delimited table",
        "line 1",
    )
    return True


def _embedded_page(ctx: ScoreContext, checks: Checks, text: str, complete: bool) -> None:
    """An HTML page inside a table: a server's error page appended to (or spliced into) the
    data stream. No table row starts with ``<html`` or ``<!DOCTYPE html``."""
    if not complete:
        text += "\n" + ctx.tail(TAIL_BYTES).decode("utf-8", errors="replace")
    m = _HTML_LINE.search(text)
    checks.check(
        "table.no_embedded_page",
        Tier.CONTAINER,
        Severity.HIGH,
        m is None,
        "no HTML page among the rows",
        "an HTML page is among the rows (an error page written into the data)",
        f"line {text.count(chr(10), 0, m.start()) + 1}" if m and complete else None,
    )


def _parse_delimited(
    ctx: ScoreContext, checks: Checks, text: str, delimiter: str, complete: bool
) -> list[Row] | None:
    """RFC 4180 first; failing that, the unescaped-quote rule some archives' writers follow.

    A table only the lenient rule reads is still whole and usable, so the quoting is scored as
    a conformance check, not as a broken container; a quote that never closes fails both (at
    the end of a whole file, that is truncation). Comment lines (``#``) are skipped, as
    astropy and pandas skip them, whatever they contain."""
    body = _blank_comments(text, delimiter)
    try:
        rows = _strict_rows(body, delimiter)
        quoting_error = None
    except csv.Error as exc:
        quoting_error = exc
        try:
            rows = _lenient_rows(body, delimiter, complete)
        except UnterminatedQuote as unterminated:
            where = f"line {unterminated.line}"
            if unterminated.at_end:
                checks.failed(
                    "table.complete",
                    Tier.CONTAINER,
                    Severity.HIGH,
                    f"the quoted value opened on {where} never closes: table truncated",
                    where,
                )
            else:
                checks.failed(
                    "table.parse",
                    Tier.CONTAINER,
                    Severity.HIGH,
                    f"not a readable table: {quoting_error}; the quoted value opened on "
                    f"{where} runs on for over 1000 lines",
                    where,
                )
            return None
    checks.passed(
        "table.parse",
        Tier.CONTAINER,
        Severity.HIGH,
        f"parsed {'a sample of ' if not complete else ''}{len(rows)} records",
    )
    if quoting_error is not None:
        convention = ctx.archive in UNESCAPED_QUOTE_ARCHIVES
        checks.add(
            "table.quoting",
            Tier.CONFORMANCE,
            Severity.LOW,
            Outcome.PASS if convention else Outcome.FAIL,
            (
                "embedded quotes unescaped, as this archive's TAP writer prints them"
                if convention
                else f"not RFC 4180 ({quoting_error}); read with the unescaped-quote rule"
            ),
        )
    return rows


def _blank_comments(text: str, delimiter: str) -> str:
    """``#`` comment lines emptied (line numbers kept); a ``#`` line inside a quoted value
    that spans lines is data, not a comment."""
    lines = text.split("\n")
    inside_quote = False
    for i, line in enumerate(lines):
        if not inside_quote and line.lstrip().startswith("#"):
            lines[i] = "\r" if line.endswith("\r") else ""
            continue
        if delimiter != "\t" and line.count('"') % 2:
            inside_quote = not inside_quote
    return "\n".join(lines)


def _strict_rows(text: str, delimiter: str) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    out: list[Row] = []
    line = 1
    for fields in reader:
        if fields and not (len(fields) == 1 and not fields[0].strip()):
            out.append((line, fields))
        line = reader.line_num + 1
    return out


def _lenient_rows(text: str, delimiter: str, complete: bool) -> list[Row]:
    lines = text.splitlines()
    try:
        found = list(records(lines, delimiter))
    except UnterminatedQuote as exc:
        if complete or not exc.at_end or exc.line is None:
            raise
        # A sample ends inside a multi-line value: judge the records before it.
        found = list(records(lines[: exc.line - 1], delimiter))
    return [(n, f) for n, f in found if not (len(f) == 1 and not f[0].strip())]


def _table_rows(
    ctx: ScoreContext,
    checks: Checks,
    rows: list[Row],
    complete: bool,
    sample: bytes,
    delimiter: str,
) -> None:
    if not rows:
        checks.failed("table.header", Tier.CONFORMANCE, Severity.HIGH, "no header row")
        return
    (header_line, header), data = rows[0], rows[1:]
    names = [h.strip() for h in header]
    width = len(names)
    dupes = sorted({n for n in names if names.count(n) > 1})
    checks.check(
        "table.header",
        Tier.CONFORMANCE,
        Severity.HIGH,
        all(names) and not dupes,
        f"{width} named, unique columns",
        f"empty or duplicate column names {dupes[:5]}",
        f"line {header_line}",
    )
    if complete:
        closed_quote = sample.rstrip().endswith(b'"')
        _last_row(checks, width, data, sample.endswith((b"\n", b"\r")), closed_quote)
    else:
        _tail_rows(ctx, checks, width, data, delimiter)
    short = [(n, r) for n, r in data if len(r) < width]
    wide = [(n, r) for n, r in data if len(r) > width and any(v.strip() for v in r[width:])]
    if wide:
        n, r = wide[0]
        checks.failed(
            "table.columns",
            Tier.CONTAINER,
            Severity.HIGH,
            f"{len(wide)} rows have more values than the {width} columns (first: {len(r)} "
            "values), so values cannot be assigned to columns",
            f"line {n}",
        )
    if data:
        good = len(data) - len(short)
        checks.add(
            "table.consistent_rows",
            Tier.CONFORMANCE,
            Severity.HIGH,
            Outcome.PASS if not short else Outcome.FAIL,
            f"{good}/{len(data)} rows have all {width} fields"
            + (f"; first short row has {len(short[0][1])}" if short else ""),
            f"line {short[0][0]}" if short else None,
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
    _ranges(checks, names, [r for _, r in data])


def _last_row(
    checks: Checks, width: int, data: list[Row], ends_cleanly: bool, closed_quote: bool
) -> None:
    """Judge whether the table ends where its writer ended it."""
    if ends_cleanly or not data:
        checks.passed("table.complete", Tier.CONTAINER, Severity.HIGH, "last row complete")
        return
    line, last = data[-1]
    problem = None
    if len(last) != width:
        problem = f"has {len(last)} of {width} fields"
    elif not closed_quote:
        column = [r[-1] for _, r in data[:-1] if len(r) == width]
        problem = cut_short(last[-1], column)
    checks.check(
        "table.complete",
        Tier.CONTAINER,
        Severity.HIGH,
        problem is None,
        "last row complete (no final line break, which RFC 4180 allows)",
        f"the file ends without a line break and its last row {problem}: table truncated",
        f"line {line}",
    )


def _tail_rows(
    ctx: ScoreContext, checks: Checks, width: int, data: list[Row], delimiter: str
) -> None:
    """A table larger than the sample: judge its real last row from the file's tail."""
    tail = ctx.tail(TAIL_BYTES)
    text = tail.decode("utf-8", errors="replace")
    lines = [x for x in text.split("\n")[1:] if x.strip() and not x.lstrip().startswith("#")]
    try:
        rows = [(0, split_record(x.rstrip("\r"), delimiter)) for x in lines]
    except (UnterminatedQuote, ValueError):
        rows = []
    if not rows:
        checks.na("table.complete", Tier.CONTAINER, Severity.HIGH, "no whole line in the tail")
        return
    # The sample's rows describe the columns; the tail's last row is the one judged.
    _last_row(
        checks,
        width,
        [*data[-200:], *rows],
        tail.endswith((b"\n", b"\r")),
        tail.rstrip().endswith(b'"'),
    )


def cut_short(value: str, column: list[str]) -> str | None:
    """Why ``value``, the last one in a file that ends without a line break, looks cut short
    compared with the other values of its column (None: it looks whole).

    A byte-level cut inside the last row leaves every field but the last whole, so the last
    value is the one to compare: empty where the column never is, not a number where the
    column always is, or shorter than (nearly) all the others."""
    v = value.strip()
    others = [x.strip() for x in column]
    if not others:
        return None
    if not v:
        return None if not all(others) else "ends in an empty value, unlike every other row"
    filled = [x for x in others if x]
    if not filled:
        return None
    if all(_number(x) for x in filled) and not _number(v):
        return f"ends in {v[:20]!r}, not a number like the rest of its column"
    # The shortest length but for the rarest 1%: a cut value is a random prefix of a value.
    shortest = sorted(len(x) for x in filled)[len(filled) // 100]
    if len(v) < shortest:
        return f"ends in {v[:20]!r}, shorter than the values of its column ({shortest}+)"
    return None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text.lower().startswith("0x") and _hex(text)
    return True


def _hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True


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


# -- VOTable ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class VOProblem:
    """One astropy VOTable warning (W code) or error (E code), where it was found."""

    code: str
    message: str
    line: str
    column: str

    @property
    def where(self) -> str:
        return f"line {self.line}, column {self.column}"

    @classmethod
    def from_text(cls, text: str) -> VOProblem:
        m = _VO_MESSAGE.search(text)
        if m is None:
            return cls("?", " ".join(text.split()), "?", "?")
        return cls(m.group(3), " ".join(m.group(4).split()), m.group(1), m.group(2))


def score_votable(ctx: ScoreContext) -> Checks:
    """A VOTable: the document is whole (closes its root, nothing after it), astropy reads
    it, the service did not answer with an error document, and astropy's E codes (errors)
    and W codes (warnings) are scored apart, each named with its message and line."""
    from astropy import __version__ as astropy_version

    checks = Checks("astropy.io.votable", astropy_version)
    _votable_end(ctx, checks)
    if (ctx.size or 0) > VOTABLE_PARSE_MAX:
        with checks.run("votable.parse", Tier.CONTAINER, Severity.HIGH):
            _stream_votable(ctx, checks)
        return checks
    parsed: tuple[Any, list[VOProblem]] | None = None
    with checks.run("votable.parse", Tier.CONTAINER, Severity.HIGH):
        parsed = _parse_votable(ctx, checks)
    if parsed is None:
        error = votable_error_text(ctx.head(65536))
        if error:
            checks.failed(
                "votable.query_status",
                Tier.CONTAINER,
                Severity.HIGH,
                f"the service returned an error document: {error}",
            )
        return checks
    vot, problems = parsed
    with checks.run("votable.content", Tier.CONFORMANCE, Severity.HIGH):
        tables = list(vot.iter_tables())
        if not _service_status(checks, vot, tables):
            return checks
        _spec_problems(checks, problems)
        _votable_tables(ctx, checks, tables)
    return checks


def _parse_votable(ctx: ScoreContext, checks: Checks) -> tuple[Any, list[VOProblem]] | None:
    """astropy's reader; a fatal E code or an XML syntax error is a verdict on the file (any
    other exception is left to :meth:`Checks.run`)."""
    from astropy.io.votable import parse
    from astropy.io.votable.exceptions import VOWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            vot = parse(ctx.path, verify="warn")
        except VOWarning as exc:
            problem = VOProblem.from_text(str(exc))
            checks.failed(
                "votable.parse",
                Tier.CONTAINER,
                Severity.HIGH,
                f"astropy cannot read it: {problem.code} {problem.message} ({problem.where})",
                f"line {problem.line}",
            )
            return None
        except ValueError as exc:
            m = _XML_ERROR.match(str(exc))
            if m is None:
                raise
            checks.failed(
                "votable.parse",
                Tier.CONTAINER,
                Severity.HIGH,
                f"not well-formed XML: {m.group(3)} (line {m.group(1)}, column {m.group(2)})",
                f"line {m.group(1)}",
            )
            return None
    checks.passed("votable.parse", Tier.CONTAINER, Severity.HIGH, "astropy reads it as a VOTable")
    problems = [
        VOProblem.from_text(str(w.message)) for w in caught if issubclass(w.category, VOWarning)
    ]
    return vot, problems


def _votable_end(ctx: ScoreContext, checks: Checks) -> None:
    """The root element closes at the end of the file: a cut document never does, and bytes
    after it were appended (XML allows only comments and blanks there)."""
    if not re.search(rb"<(?:[\w.-]+:)?VOTABLE\b", ctx.head(65536)):
        return  # not a VOTable at all: the parser says so
    tail = ctx.tail(4096)
    closes = list(re.finditer(rb"</(?:[\w.-]+:)?VOTABLE\s*>", tail))
    if not closes:
        checks.failed(
            "votable.complete",
            Tier.CONTAINER,
            Severity.HIGH,
            "the document never closes its VOTABLE element: truncated",
            "end of file",
        )
        return
    after = re.sub(rb"<!--.*?-->", b"", tail[closes[-1].end() :], flags=re.S).strip()
    checks.check(
        "votable.complete",
        Tier.CONTAINER,
        Severity.HIGH,
        not after,
        "the document ends with </VOTABLE>",
        f"{len(after)} bytes after </VOTABLE>: data appended to the document",
        "end of file",
    )


def _stream_votable(ctx: ScoreContext, checks: Checks) -> None:
    """Well-formedness and the service status of a VOTable too big for astropy, streamed
    through expat in bounded memory within the time budget."""
    from xml.parsers import expat

    parser = expat.ParserCreate(namespace_separator=" ")
    found: dict[str, str] = {}

    def start(name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]
        found.setdefault("root", local)
        if local == "INFO" and attrs.get("name", "").upper() == "QUERY_STATUS":
            found.setdefault("status", attrs.get("value", "").upper())

    parser.StartElementHandler = start
    with open(ctx.path, "rb") as fh:
        try:
            while chunk := fh.read(1024 * 1024):
                if ctx.time_left < 0:
                    checks.add(
                        "votable.parse",
                        Tier.CONTAINER,
                        Severity.HIGH,
                        Outcome.ABSENT,
                        f"XML read to byte {fh.tell()} within the time budget, not to the end",
                    )
                    return
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except expat.ExpatError as exc:
            checks.failed(
                "votable.parse",
                Tier.CONTAINER,
                Severity.HIGH,
                f"not well-formed XML: {expat.ErrorString(exc.code)} "
                f"(line {exc.lineno}, column {exc.offset})",
                f"line {exc.lineno}",
            )
            return
    checks.check(
        "votable.parse",
        Tier.CONTAINER,
        Severity.HIGH,
        found.get("root") == "VOTABLE",
        "well-formed XML with a VOTABLE root (streamed: too big for astropy)",
        f"the root element is {found.get('root')!r}, not VOTABLE",
    )
    checks.check(
        "votable.query_status",
        Tier.CONTAINER,
        Severity.HIGH,
        found.get("status") != "ERROR",
        "no QUERY_STATUS ERROR",
        "QUERY_STATUS is ERROR: the service returned an error document",
    )


def _service_status(checks: Checks, vot: Any, tables: list[Any]) -> bool:
    """DALI's ``INFO name="QUERY_STATUS"`` (ERROR: an error document; OVERFLOW: the service
    cut the result at its row limit), or, from older services, an INFO/PARAM named ``Error``
    in a document with no table (Cone Search 1.03; IRSA's error documents). False: the
    document is an error document, and nothing else about it matters."""
    infos = _status_infos(vot)
    status = next((i for i in infos if (i.name or "").upper() == "QUERY_STATUS"), None)
    value = str(status.value or "").upper() if status is not None else ""
    text = _info_text(status) if status is not None else ""
    if value != "ERROR" and not tables:
        named = next((i for i in infos if (i.name or "").lower() == "error"), None)
        if named is not None:
            value, text = "ERROR", _info_text(named)
    if value == "ERROR":
        checks.failed(
            "votable.query_status",
            Tier.CONTAINER,
            Severity.HIGH,
            f"the service returned an error document: {text or 'no message'}",
        )
        return False
    if value == "OVERFLOW":
        checks.failed(
            "votable.query_status",
            Tier.PLAUSIBILITY,
            Severity.LOW,
            "QUERY_STATUS is OVERFLOW: the service cut the result at its row limit (MAXREC)",
        )
    else:
        checks.passed(
            "votable.query_status",
            Tier.CONTAINER,
            Severity.HIGH,
            f"QUERY_STATUS {value}" if value else "no service error reported",
        )
    return True


def _status_infos(vot: Any) -> list[Any]:
    """INFO and PARAM elements of the VOTABLE and of its RESOURCEs (not of its TABLEs)."""
    found = list(vot.infos) + list(getattr(vot, "params", []))
    stack = list(vot.resources)
    while stack:
        resource = stack.pop(0)
        found += list(resource.infos) + list(resource.params)
        stack.extend(resource.resources)
    return found


def _info_text(element: Any) -> str:
    text = getattr(element, "content", None) or element.value or ""
    return " ".join(str(text).split()).strip('"')[:300]


def _spec_problems(checks: Checks, problems: list[VOProblem]) -> None:
    """E codes: the file breaks the standard (values may be misread); W codes: it bends it.
    A warning never costs as much as an error."""
    errors = [p for p in problems if p.code.startswith("E")]
    notes = [p for p in problems if not p.code.startswith("E")]
    if errors:
        checks.failed(
            "votable.spec_errors",
            Tier.CONFORMANCE,
            Severity.HIGH,
            f"VOTable errors: {_describe(errors)}",
            f"line {errors[0].line}",
        )
    else:
        checks.passed("votable.spec_errors", Tier.CONFORMANCE, Severity.HIGH, "no E codes")
    codes = {p.code for p in notes}
    checks.add(
        "votable.spec_warnings",
        Tier.CONFORMANCE,
        Severity.MEDIUM,
        Outcome.FAIL if notes else Outcome.PASS,
        f"VOTable warnings: {_describe(notes)}" if notes else "no W codes",
        f"line {notes[0].line}" if notes else None,
        credit=max(0.5, 1 - 0.1 * len(codes)) if notes else None,
    )


def _describe(problems: list[VOProblem], limit: int = 6) -> str:
    """``W49 Empty cell illegal for integer fields. (line 37, column 12; 3 times)``, per code."""
    by_code: dict[str, list[VOProblem]] = defaultdict(list)
    for p in problems:
        by_code[p.code].append(p)
    parts = []
    for code, found in sorted(by_code.items()):
        first = found[0]
        times = f"; {len(found)} times" if len(found) > 1 else ""
        message = first.message.removesuffix(" (suppressing further warnings of this type...)")
        parts.append(f"{code} {message} ({first.where}{times})")
    more = f"; +{len(parts) - limit} more codes" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def _votable_tables(ctx: ScoreContext, checks: Checks, tables: list[Any]) -> None:
    if not tables:
        checks.failed(
            "votable.tables",
            Tier.PLAUSIBILITY,
            Severity.LOW,
            "no TABLE element: the document holds no rows",
        )
        return
    rows = sum(len(t.array) for t in tables)
    checks.passed(
        "votable.tables",
        Tier.PLAUSIBILITY,
        Severity.LOW,
        f"{len(tables)} table(s), {rows} rows, {sum(len(t.fields) for t in tables)} fields",
    )
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


def votable_error_text(head: bytes) -> str | None:
    """The message of a VOTable error document, read from its first bytes without a parser
    (a document too broken for one): DALI's QUERY_STATUS=ERROR, or, in a document with no
    TABLE, an INFO named ERROR."""
    no_table = b"<TABLE" not in head and b":TABLE" not in head
    for m in _INFO_TAG.finditer(head):
        attrs = {
            k.decode("ascii", "replace").lower(): (a or b).decode("utf-8", "replace")
            for k, a, b in _ATTR.findall(m.group(1))
        }
        name, value = attrs.get("name", "").upper(), attrs.get("value", "").upper()
        if (name == "QUERY_STATUS" and value == "ERROR") or (name == "ERROR" and no_table):
            body = b""
            if not m.group(2):
                body = head[m.end() :].split(b"<", 1)[0]
            text = body.decode("utf-8", "replace") or attrs.get("value", "")
            return f"INFO {name}: " + (" ".join(text.split()).strip('"')[:300] or "no message")
    return None


# -- IPAC -------------------------------------------------------------------------------------
def score_ipac(ctx: ScoreContext) -> Checks:
    """An IPAC table: astropy reads it, and a file that ends without a line break ends in a
    whole data row (not inside the header, not in a value cut short)."""
    from astropy import __version__ as astropy_version

    checks = Checks("astropy.table (ipac)", astropy_version)
    if (ctx.size or 0) > VOTABLE_PARSE_MAX:
        checks.na("ipac.parse", Tier.CONTAINER, Severity.HIGH, "too large to read whole")
    else:
        _read_ipac(ctx, checks)
    with checks.run("ipac.complete", Tier.CONTAINER, Severity.HIGH):
        _ipac_end(ctx, checks)
    return checks


def _read_ipac(ctx: ScoreContext, checks: Checks) -> None:
    from astropy.table import Table

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


def _ipac_end(ctx: ScoreContext, checks: Checks) -> None:
    sample = ctx.head(ctx.sample_bytes)
    if len(sample) < (ctx.size or 0):
        sample = ctx.tail(TAIL_BYTES)
    if sample.endswith((b"\n", b"\r")):
        checks.passed("ipac.complete", Tier.CONTAINER, Severity.HIGH, "ends with a line break")
        return
    lines = [x for x in sample.decode("latin-1").splitlines() if x.strip()]
    headers = [x for x in lines if x.startswith("|")]
    last = lines[-1] if lines else ""
    problem = None
    if not headers or last.startswith(("|", "\\")):
        problem = "ends inside the header: table truncated"
    else:
        bars = [i for i, ch in enumerate(headers[0].rstrip()) if ch == "|"]
        start = bars[-2] + 1 if len(bars) >= 2 else 0
        data = [x for x in lines if not x.startswith(("|", "\\"))]
        if len(last.rstrip()) <= start:
            problem = "last row stops before its last column: table truncated"
        else:
            column = [x[start:].strip() for x in data[:-1] if len(x.rstrip()) > start]
            cut = cut_short(last[start:], column)
            problem = f"last row {cut}: table truncated" if cut else None
    checks.check(
        "ipac.complete",
        Tier.CONTAINER,
        Severity.HIGH,
        problem is None,
        "last row complete (no final line break)",
        f"the file ends without a line break and {problem}" if problem else "",
        "end of file",
    )
