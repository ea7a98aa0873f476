"""Read a NASA PSG ``api.php`` answer: header facts for the catalog, in-body errors as problems.

PSG answers with plain text (https://psg.gsfc.nasa.gov/helpapi.php; real bodies recorded in
``../shared/samples/psg``): header lines starting ``#`` (``# WARNING | <module> | ...``, a title
such as ``# Radiance spectrum``, ``# Synthesized on <ctime>``, ``# Spectral unit: ...``, and as
the last header line the column names, e.g. ``# Wave/freq Total Noise Stellar Planet``), then
rows of space-separated floats. Errors are not HTTP errors but text in the body:
``# ERROR | <module> | <message>`` (sample ``api_error_response.txt``). A config that does not
start with ``<`` gets an empty answer (api.php's source, quoted in a public security write-up).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Types whose answer is a numeric spectrum table (confirmed for rad by the recorded sample; trn
# has the same layout in PSG's documentation examples). Other types are only header-checked.
NUMERIC_TYPES = ("rad", "trn")
_LEVEL = re.compile(r"^#\s*(ERROR|WARNING)\s*\|\s*([^|]*?)\s*\|\s*(.*)$", re.I)
_UNIT = re.compile(r"^#\s*([A-Za-z ]+?) unit:\s*(.+)$")
MAX_EXAMPLES = 3


class PsgProblem(ValueError):
    def __init__(self, *reasons: str, metadata: dict[str, Any] | None = None):
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)
        self.metadata = metadata or {}


@dataclass
class PsgOutput:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    title: str | None = None
    synthesized_on: str | None = None
    columns: str | None = None
    units: dict[str, str] = field(default_factory=dict)
    data_rows: int = 0
    data_columns: int | None = None
    bad_rows: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "psg_title": self.title,
            "psg_synthesized_on": self.synthesized_on,
            "psg_columns": self.columns,
            "psg_units": self.units or None,
            "psg_warnings": self.warnings or None,
            "data_rows": self.data_rows,
            "data_columns": self.data_columns,
        }
        return {k: v for k, v in found.items() if v is not None}


def read_psg_output(path: str, psg_type: str) -> PsgOutput:
    """Parse the answer at ``path``; raise :class:`PsgProblem` for errors and bad tables."""
    out = PsgOutput()
    previous_header: str | None = None
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, raw in enumerate(fh, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith("#"):
                _header_line(out, line, previous_header)
                previous_header = line
                continue
            if not in_data:
                in_data = True
                if previous_header is not None and not _LEVEL.match(previous_header):
                    out.columns = previous_header.lstrip("#").strip() or None
            out.data_rows += 1
            if psg_type in NUMERIC_TYPES:
                _check_row(out, lineno, line)
    if out.errors:
        raise PsgProblem(*(f"PSG error: {e}" for e in out.errors), metadata=out.metadata())
    if out.data_rows == 0 and not out.title and not out.warnings:
        raise PsgProblem(
            "PSG returned no content (an empty answer means the config was not accepted)"
        )
    if psg_type in NUMERIC_TYPES and out.data_rows == 0:
        raise PsgProblem(f"PSG {psg_type} answer has no data rows", metadata=out.metadata())
    if out.bad_rows:
        raise PsgProblem(
            f"malformed {psg_type} table: " + "; ".join(out.bad_rows[:MAX_EXAMPLES]),
            metadata=out.metadata(),
        )
    return out


def _header_line(out: PsgOutput, line: str, previous: str | None) -> None:
    level = _LEVEL.match(line)
    if level:
        kind, module, message = level.groups()
        text = f"{module}: {message.strip()}" if module else message.strip()
        (out.errors if kind.upper() == "ERROR" else out.warnings).append(text)
        return
    body = line.lstrip("#").strip()
    if body.startswith("Synthesized on"):
        out.synthesized_on = body[len("Synthesized on") :].strip()
    elif body.startswith("NASA-GSFC Planetary Spectrum Generator") and previous:
        title = previous.lstrip("#").strip()
        if title and not set(title) <= {"-"}:
            out.title = title
    unit = _UNIT.match(line)
    if unit:
        out.units[unit.group(1).strip().lower()] = unit.group(2).strip()


def _check_row(out: PsgOutput, lineno: int, line: str) -> None:
    values = line.split()
    try:
        [float(v) for v in values]
    except ValueError:
        out.bad_rows.append(f"line {lineno}: not numeric: {line[:60]!r}")
        return
    if out.data_columns is None:
        out.data_columns = len(values)
    elif len(values) != out.data_columns:
        out.bad_rows.append(f"line {lineno}: {len(values)} values, expected {out.data_columns}")
