"""Readers for NASA Exoplanet Archive TAP results: CSV, TSV, VOTable, plus its IPAC files.

They check a downloaded result the way the archive writes it and report its shape (columns,
row count) or raise :class:`TableProblem` with reasons a person can act on. Files are streamed,
never loaded whole: the ``ps`` table is tens of megabytes.

How the archive writes results (its TAP server is Caltech-IPAC/nexsciTAP; the C writer
``TAP/writerecsmodule.c`` formats every row):

* CSV: a header of bare lower-case column names; ``char``/``date``/``timestamp`` values are
  written as ``"%s"`` with NO escaping of embedded quotes; ``int``/``double`` values are bare;
  NULLs are empty and unquoted; LF line ends. The recorded bodies in ``shared/samples`` (string
  columns only) show the same. So a quoted value ends at the first ``"`` that is followed by the
  delimiter or the end of the line (the rule used here), which also reads RFC 4180 ``""``
  escapes without miscounting fields.
* TSV: the same without any quoting.
* VOTable 1.3 ``TABLEDATA`` with ``<INFO name="QUERY_STATUS" value="OK|OVERFLOW"/>``; char cells
  in ``CDATA``. (The writer also emits a stray ``>`` text after some ``</FIELD>`` tags; it is
  harmless text and is accepted.)
* Errors come back with HTTP 200 (``TAP/tap.py`` ``__printError__``): a VOTable whose
  ``QUERY_STATUS`` is ``ERROR`` when the format is votable, else a small JSON document
  ``{"status": "error", "msg": "..."}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

# The quoting rule lives in tapcsv so the quality scorer reads tables the same way.
from capture.formats.tapcsv import UnterminatedQuote, records

MAX_EXAMPLES = 3
# A value spanning more lines than this is treated as an unterminated quote, not read on.
MAX_RECORD_LINES = 1000

_JSON_MSG = re.compile(r'"msg"\s*:\s*"(.*)"', re.S)
_INFO_ERROR = re.compile(
    rb'<INFO[^>]*name="QUERY_STATUS"[^>]*value="ERROR"[^>]*>(.*?)</INFO>', re.S | re.I
)
_HTML = (b"<!doctype html", b"<html", b"<head", b"<body")


class TableProblem(ValueError):
    """The bytes are not a sound result table; ``reasons`` say why."""

    def __init__(self, *reasons: str):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


@dataclass
class TableSummary:
    columns: list[str]
    row_count: int
    meta: dict[str, Any] = field(default_factory=dict)


# -- error documents -------------------------------------------------------------------------
def error_in(head: bytes) -> str | None:
    """The archive's in-band error message if ``head`` (the body's first bytes) is one."""
    text = head.lstrip()
    if text.startswith(b"{"):
        decoded = text.decode("utf-8", "replace")
        try:
            doc = json.loads(decoded)
        except ValueError:
            doc = None
        if isinstance(doc, dict) and str(doc.get("status", "")).lower() == "error":
            return str(doc.get("msg") or "").strip() or "(no message)"
        if doc is None and re.search(r'"status"\s*:\s*"error"', decoded):
            msg = _JSON_MSG.search(decoded)  # the server does not escape quotes in msg
            return msg.group(1).strip() if msg else "(no message)"
    match = _INFO_ERROR.search(text)
    if match:
        message = match.group(1).decode("utf-8", "replace").strip()
        return re.sub(r"\s+", " ", message) or "(no message)"
    if text[:512].lower().startswith(_HTML):
        return "the server sent an HTML page instead of a table"
    return None


# -- delimited text --------------------------------------------------------------------------
def iter_records(fh: IO[str], delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per record; quoted values may span lines (CSV only)."""
    try:
        yield from records(fh, delimiter, MAX_RECORD_LINES)
    except UnterminatedQuote as exc:
        if exc.at_end:
            raise TableProblem(
                f"line {exc.line}: unterminated quoted value (end of file inside quotes): "
                f"{exc.args[0]!r}"
            ) from None
        raise TableProblem(
            f"line {exc.line}: unterminated quoted value starting {exc.args[0]!r}"
        ) from None


def summarize_delimited(path: str, delimiter: str) -> TableSummary:
    """Header and row count of a CSV/TSV result; ragged rows and bad quoting are problems."""
    with open(path, "rb") as fb:
        head = fb.read(64 * 1024)
    if not head.strip():
        raise TableProblem("empty result: no header line")
    error = error_in(head)
    if error is not None:
        raise TableProblem(f"TAP error from the archive: {error}")
    problems: list[str] = []
    bad = 0
    rows = 0
    columns: list[str] | None = None
    with open(path, encoding="utf-8", errors="strict", newline="") as fh:
        try:
            for lineno, fields in iter_records(fh, delimiter):
                if columns is None:
                    columns = [c.strip() for c in fields]
                    if any(not c or '"' in c for c in columns):
                        raise TableProblem(f"line 1: malformed header {fields[:8]!r}")
                    continue
                rows += 1
                if len(fields) != len(columns):
                    bad += 1
                    if len(problems) < MAX_EXAMPLES:
                        problems.append(
                            f"line {lineno}: {len(fields)} fields, header has {len(columns)}"
                        )
        except UnicodeDecodeError as exc:
            raise TableProblem(f"not UTF-8 text: {exc}") from None
    if bad:
        more = f" (and {bad - len(problems)} more)" if bad > len(problems) else ""
        raise TableProblem(f"{bad} ragged row(s): " + "; ".join(problems) + more)
    assert columns is not None
    return TableSummary(columns, rows)


def read_rows(path: str, delimiter: str = ",") -> Iterator[dict[str, str]]:
    """Rows of a (small, trusted-shape) CSV listing as dicts; ragged rows are skipped."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        yield from rows_of(fh, delimiter)


def rows_of(fh: IO[str], delimiter: str = ",") -> Iterator[dict[str, str]]:
    """:func:`read_rows` of an open text stream (e.g. a file decoded as it is read)."""
    columns: list[str] | None = None
    for _, fields in iter_records(fh, delimiter):
        if columns is None:
            columns = [c.strip() for c in fields]
        elif len(fields) == len(columns):
            yield dict(zip(columns, fields, strict=True))


def parse_count(body: bytes) -> int | None:
    """The number in a ``select count(*) from t`` CSV answer (header + one value), or None."""
    if error_in(body[:4096]) is not None:
        return None
    lines = [ln for ln in body.decode("utf-8", "replace").splitlines() if ln.strip()]
    if len(lines) != 2:
        return None
    value = lines[1].split(",")[0].strip().strip('"')
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number.is_integer() and number >= 0 else None


# -- VOTable ---------------------------------------------------------------------------------
def summarize_votable(path: str) -> TableSummary:
    """Fields and row count of a TABLEDATA VOTable, streamed with astropy's VOTable tokenizer."""
    from astropy.utils.xml.iterparser import get_xml_iterator

    columns: list[str] = []
    rows = cells = bad = 0
    problems: list[str] = []
    status: str | None = None
    status_text = ""
    in_status = saw_votable = saw_tabledata = False
    try:
        with get_xml_iterator(path) as iterator:
            for start, tag, data, pos in iterator:
                tag = tag.rsplit(":", 1)[-1]
                if start:
                    if tag == "VOTABLE":
                        saw_votable = True
                    elif tag == "INFO" and data.get("name") == "QUERY_STATUS":
                        status, in_status = data.get("value", ""), True
                    elif tag == "FIELD":
                        columns.append(data.get("name") or data.get("ID") or "")
                    elif tag == "TABLEDATA":
                        saw_tabledata = True
                    elif tag == "TR":
                        cells = 0
                    continue
                if tag == "INFO" and in_status:
                    status_text, in_status = (data or "").strip(), False
                elif tag == "TD":
                    cells += 1
                elif tag == "TR":
                    rows += 1
                    if cells != len(columns):
                        bad += 1
                        if len(problems) < MAX_EXAMPLES:
                            problems.append(
                                f"row {rows} (line {pos[0]}): {cells} cells, {len(columns)} fields"
                            )
    except Exception as exc:  # expat errors surface as several exception types
        raise TableProblem(f"not well-formed VOTable XML: {exc}") from None
    if not saw_votable:
        raise TableProblem("not a VOTable (no VOTABLE element)")
    if status is not None and status.upper() == "ERROR":
        message = re.sub(r"\s+", " ", status_text) or "(no message)"
        raise TableProblem(f"TAP error from the archive: {message}")
    if status is not None and status.upper() == "OVERFLOW":
        raise TableProblem("result truncated by the archive (QUERY_STATUS OVERFLOW)")
    if columns and not saw_tabledata and rows == 0:
        raise TableProblem("VOTable without TABLEDATA rows (unsupported serialization)")
    if bad:
        raise TableProblem(f"{bad} row(s) with a wrong cell count: " + "; ".join(problems))
    return TableSummary(columns, rows, {"query_status": status})


# -- IPAC tables (spectra files) -------------------------------------------------------------
def summarize_ipac(path: str) -> TableSummary:
    """Columns, rows and ``\\KEY = value`` keywords of an IPAC table (astropy's reader)."""
    from astropy.io import ascii as astropy_ascii

    with open(path, "rb") as fb:
        head = fb.read(4096)
    if not head.strip():
        raise TableProblem("empty file")
    error = error_in(head)
    if error is not None:
        raise TableProblem(error)
    try:
        table = astropy_ascii.read(path, format="ipac", guess=False)
    except Exception as exc:
        raise TableProblem(f"not a readable IPAC table: {type(exc).__name__}: {exc}") from None
    keywords = {
        str(k): str(v.get("value") if isinstance(v, dict) else v)
        for k, v in (table.meta.get("keywords") or {}).items()
    }
    return TableSummary(list(table.colnames), len(table), {"keywords": keywords})
