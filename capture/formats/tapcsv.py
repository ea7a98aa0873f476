"""CSV as the NASA Exoplanet Archive's TAP server writes it: quoted values, quotes not escaped.

Its C writer (Caltech-IPAC/nexsciTAP ``writerecsmodule.c``) prints text values as ``"%s"``, so
a value containing ``"`` breaks RFC 4180 readers. A quoted value ends at the first ``"`` that
is followed by the delimiter or the end of the record, which also reads RFC 4180 ``""``
escapes without miscounting fields. Shared by the spider's result check and the quality
scorer so both read a table the same way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# A quoted CSV value ends at the first quote followed by a comma or the end of the record.
_QUOTED = re.compile(r'"(.*?)"(,|\Z)', re.S)
_UNQUOTED = re.compile(r"([^,]*)(,|\Z)")


class UnterminatedQuote(ValueError):
    """A quoted value does not end in the text given (it may continue on the next line)."""

    def __init__(self, text: str, line: int | None = None, at_end: bool = False):
        super().__init__(text)
        self.line = line
        self.at_end = at_end


def split_record(record: str, delimiter: str = ",") -> list[str]:
    """Fields of one record under the archive's quoting rule (TSV is never quoted)."""
    if delimiter == "\t":
        return record.split("\t")
    if delimiter != ",":
        raise ValueError(f"unsupported delimiter {delimiter!r}")
    if '"' not in record:
        return record.split(",")
    fields: list[str] = []
    pos, end = 0, len(record)
    while True:
        if pos < end and record[pos] == '"':
            match = _QUOTED.match(record, pos)
            if match is None:
                raise UnterminatedQuote(record[pos : pos + 40])
        else:
            match = _UNQUOTED.match(record, pos)
            assert match is not None  # [^,]* always matches
        fields.append(match.group(1))
        pos = match.end()
        if not match.group(2):  # ended at the end of the record
            return fields


def records(
    lines: Iterable[str], delimiter: str = ",", max_record_lines: int = 1000
) -> Iterator[tuple[int, list[str]]]:
    """(first line number, fields) per record; a quoted value may span lines.

    Raises :class:`UnterminatedQuote` (``line``, ``at_end`` set) when a quoted value runs over
    ``max_record_lines`` lines or past the end of the text.
    """
    pending: list[str] = []
    start = 0
    for lineno, raw in enumerate(lines, 1):
        line = raw[:-1] if raw.endswith("\n") else raw
        if line.endswith("\r"):
            line = line[:-1]
        if not pending:
            start = lineno
        pending.append(line)
        try:
            fields = split_record("\n".join(pending), delimiter)
        except UnterminatedQuote as exc:
            if len(pending) >= max_record_lines:
                raise UnterminatedQuote(exc.args[0], line=start, at_end=False) from None
            continue
        pending = []
        yield start, fields
    if pending:
        raise UnterminatedQuote(pending[0][:80], line=start, at_end=True)
