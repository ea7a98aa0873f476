"""PDS3 labels (ODL ``KEY = value`` statements) and PDS volume checksum manifests.

A PDS3 label describes its product's byte layout: ``RECORD_TYPE = FIXED_LENGTH`` with
``RECORD_BYTES`` and ``FILE_RECORDS`` fixes the file's size exactly (for detached *and*
attached labels, ``FILE_RECORDS`` counts every record of the data file, label records
included), and ``^<OBJECT> = ("FILE.TAB", 3)`` pointers name the data file a detached label
describes (PDS3 Standards Reference ch. 5 and 12; e.g. the real SHADR label
``messenger/.../messrs_1001/data/shadr/gtmes_150v05_sha.lbl`` and the attached-label Magellan
file ``mgn/.../mg_5201/gravity/shgj180u.a01``).

Checksum manifests: PDS volumes ship MD5 tables written by MD5Deep or md5sum, one
``<32 hex digits>  <path>`` per line (``index/md5.tab`` at the Geosciences node, with
backslash-separated paths from the volume root; ``index/checksum.tab`` at the Small Bodies
node). Paths are matched case-insensitively by their tail, because PDS3 names are
case-insensitive (labels say ``GTMES_150V05_SHA.TAB``, the server serves lower case).
"""

from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field
from typing import Any

_STATEMENT = re.compile(r"^\s*(\^?[A-Za-z][A-Za-z0-9_:]*)\s*=\s*(.*)$", re.S)
_INT = re.compile(r"^[+-]?\d+$")
_REAL = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_UNIT = re.compile(r"\s*<[^>]*>\s*$")
_MD5_LINE = re.compile(r'^\s*"?([0-9a-fA-F]{32})"?\s*[\s,]\s*\*?"?(.+?)"?\s*$')


class LabelError(ValueError):
    """The text is not a PDS3 label."""


@dataclass
class Pointer:
    """``^NAME = ("FILE", n)``: a data object in ``file`` (None: this file, attached label)
    starting at record ``record`` (1-based) or at byte ``offset`` (``<BYTES>`` unit)."""

    file: str | None
    record: int | None = None
    offset: int | None = None


@dataclass
class LabelObject:
    kind: str
    name: str
    keywords: dict[str, Any] = field(default_factory=dict)
    children: list[LabelObject] = field(default_factory=list)


@dataclass
class Label:
    keywords: dict[str, Any] = field(default_factory=dict)
    pointers: dict[str, Pointer] = field(default_factory=dict)
    objects: list[LabelObject] = field(default_factory=list)
    #: Characters of the text the label occupied (up to and including ``END``).
    length: int = 0
    #: Syntax and nesting problems, each with its line (empty values, unclosed OBJECTs...).
    problems: list[str] = field(default_factory=list)

    def get(self, key: str, default: Any = None) -> Any:
        return self.keywords.get(key.upper(), default)

    def int(self, key: str) -> builtins.int | None:
        value = self.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def expected_size(self) -> builtins.int | None:
        """``FILE_RECORDS x RECORD_BYTES`` for fixed-length files, else None."""
        if str(self.get("RECORD_TYPE", "")).upper() != "FIXED_LENGTH":
            return None
        records, size = self.int("FILE_RECORDS"), self.int("RECORD_BYTES")
        if records is None or size is None:
            return None
        return records * size

    def data_files(self) -> list[str]:
        """Names of the data files the label points to, in label order, without duplicates."""
        names: list[str] = []
        for pointer in self.pointers.values():
            if pointer.file and pointer.file not in names:
                names.append(pointer.file)
        return names

    def find_object(self, name: str) -> LabelObject | None:
        stack = list(self.objects)
        while stack:
            obj = stack.pop(0)
            if obj.name.upper() == name.upper():
                return obj
            stack.extend(obj.children)
        return None


@dataclass
class Statement:
    """``KEY = value`` (raw value text, comments removed), the 1-based line it starts on and
    the character offset just past its last line."""

    key: str
    raw: str
    line: int
    end: int


@dataclass
class LabelScan:
    """What a lenient, line-by-line read of a label found, with every syntax problem located.

    Scanning never raises, so a scorer can say *where* a label is broken; :func:`parse_label`
    builds on it and refuses only text that has no ``END`` at all.
    """

    statements: list[Statement] = field(default_factory=list)
    #: Line of the ``END`` statement (any case, optional ``;``); None when the text has none.
    end_line: int | None = None
    #: Characters up to and including the ``END`` line (all the text when there is no END).
    length: int = 0
    #: Lines of statements with nothing after ``=`` (ODL requires a value).
    empty_values: list[int] = field(default_factory=list)
    #: Line of a statement whose quote, ``(`` or ``{`` never closes before END/the end.
    unterminated: int | None = None
    #: Lines before END that are neither statements, comments nor blank.
    stray_lines: list[int] = field(default_factory=list)
    #: OBJECT/GROUP nesting problems (unclosed, mismatched or unopened blocks).
    nesting: list[str] = field(default_factory=list)

    @property
    def syntax_problems(self) -> list[str]:
        out = [f"line {n}: statement has no value" for n in self.empty_values]
        if self.unterminated is not None:
            out.append(f"line {self.unterminated}: quoted text or bracket never closes")
        out += [f"line {n}: not a KEY = value statement" for n in self.stray_lines]
        return out


_END_BLOCK = ("END_OBJECT", "END_GROUP")
_STARTS_STATEMENT = re.compile(
    r"^\s*(\^?[A-Za-z][A-Za-z0-9_:]*\s*=|END(_OBJECT|_GROUP)?\s*;?\s*$)", re.I
)


def scan_label(text: str) -> LabelScan:
    """Statements up to ``END``: ``/* */`` comments (also across lines) removed, multi-line
    strings, sets and sequences joined, ``;`` terminators and separators (PVL) accepted.

    A ``KEY =`` whose value is not on its line takes the next line as its value, unless that
    line starts another statement (then the value is empty, as pvl reads it too)."""
    scan = LabelScan()
    pending: tuple[str, str, int] | None = None  # key, value so far, first line
    awaiting = False  # pending has seen only "KEY =" so far
    in_comment = False
    pos = 0
    lineno = 0

    def finish(key: str, value: str, line: int) -> None:
        scan.statements.append(Statement(key, value.strip(), line, pos))

    for lineno, raw_line in enumerate(text.splitlines(keepends=True), 1):
        pos += len(raw_line)
        line = raw_line.rstrip("\r\n")
        quoted_continuation = pending is not None and not awaiting and pending[1].count('"') % 2
        clean, in_comment = (line, False) if quoted_continuation else _uncomment(line, in_comment)
        if pending is not None and awaiting:
            if not clean.strip():
                continue
            if _STARTS_STATEMENT.match(clean):
                scan.empty_values.append(pending[2])
                finish(pending[0], "", pending[2])
                pending, awaiting = None, False
            else:
                awaiting = False
                pending = (pending[0], clean, pending[2])
                if _balanced(clean):
                    finish(*pending)
                    pending = None
                continue
        if pending is not None:
            key, value, first = pending
            value += "\n" + clean
            if _balanced(value):
                finish(key, value, first)
                pending = None
            else:
                pending = (key, value, first)
            continue
        for part in _split_statements(clean):
            stripped = part.strip()
            if not stripped:
                continue
            upper = stripped.upper()
            if upper == "END":
                scan.end_line, scan.length = lineno, pos
                _check_nesting(scan)
                return scan
            if upper in _END_BLOCK:
                finish(upper, "", lineno)
                continue
            m = _STATEMENT.match(part)
            if not m:
                scan.stray_lines.append(lineno)
                continue
            key, value = m.group(1).upper(), m.group(2)
            if not value.strip() or value.lstrip().startswith("#"):
                pending, awaiting = (key, "", lineno), True
            elif _balanced(value):
                finish(key, value, lineno)
            else:
                pending = (key, value, lineno)
    if pending is not None:
        if awaiting:
            scan.empty_values.append(pending[2])
            finish(pending[0], "", pending[2])
        else:
            scan.unterminated = pending[2]
    scan.length = pos
    _check_nesting(scan)
    return scan


def _uncomment(line: str, in_comment: bool) -> tuple[str, bool]:
    """The line without ``/* ... */`` comments (a comment may span lines)."""
    out: list[str] = []
    i = 0
    while i < len(line):
        if in_comment:
            close = line.find("*/", i)
            if close < 0:
                return "".join(out), True
            out.append(" ")
            i, in_comment = close + 2, False
            continue
        opening = line.find("/*", i)
        if opening < 0:
            out.append(line[i:])
            break
        out.append(line[i:opening])
        i, in_comment = opening + 2, True
    return "".join(out), in_comment


def _split_statements(line: str) -> list[str]:
    """Split on ``;`` outside quotes (PVL's statement terminator); ODL lines have none."""
    if ";" not in line:
        return [line]
    parts, current, quoted = [], "", False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _check_nesting(scan: LabelScan) -> None:
    stack: list[tuple[str, str, int]] = []
    for st in scan.statements:
        if st.key in ("OBJECT", "GROUP"):
            stack.append((st.key, str(parse_value(st.raw)), st.line))
        elif st.key in _END_BLOCK:
            kind = st.key[4:]
            if not stack or stack[-1][0] != kind:
                scan.nesting.append(f"line {st.line}: {st.key} without an open {kind}")
                continue
            _, name, _ = stack.pop()
            closes = str(parse_value(st.raw)) if st.raw else name
            if closes.upper() != name.upper():
                scan.nesting.append(f"line {st.line}: {st.key} = {closes} closes {kind} {name}")
    scan.nesting += [f"line {line}: {kind} = {name} never closed" for kind, name, line in stack]


def _balanced(value: str) -> bool:
    if value.count('"') % 2:
        return False
    outside = re.sub(r'"[^"]*"', "", value)
    return outside.count("(") <= outside.count(")") and outside.count("{") <= outside.count("}")


def parse_value(raw: str) -> Any:
    """An ODL value: quoted text (whitespace collapsed), int, real, ``(a, b)`` -> tuple,
    ``{a, b}`` -> list, ``122 <BYTES>`` -> 122, anything else as a plain string."""
    raw = raw.strip()
    if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
        return " ".join(raw[1:-1].split())
    if raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        return raw[1:-1]
    if (raw.startswith("(") and raw.endswith(")")) or (raw.startswith("{") and raw.endswith("}")):
        items = [parse_value(p) for p in _split_items(raw[1:-1]) if p.strip()]
        return tuple(items) if raw[0] == "(" else items
    number = _UNIT.sub("", raw)
    if _INT.match(number):
        return int(number)
    if _REAL.match(number):
        return float(number)
    return raw


def _split_items(body: str) -> list[str]:
    items, depth, quoted, current = [], 0, False, ""
    for ch in body:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in "({":
            depth += 1
        elif not quoted and ch in ")}":
            depth -= 1
        if ch == "," and not quoted and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    return items


def _pointer(value: Any, raw: str) -> Pointer:
    if isinstance(value, str):
        return Pointer(file=value)
    if isinstance(value, int):
        return Pointer(file=None, **_location(value, raw))
    if isinstance(value, tuple) and value and isinstance(value[0], str):
        where = _location(value[1], raw) if len(value) > 1 else {}
        return Pointer(file=value[0], **where)
    return Pointer(file=None)


def _location(value: Any, raw: str) -> dict[str, int]:
    if not isinstance(value, int):
        return {}
    return {"offset": value} if "<BYTES>" in raw.upper() else {"record": value}


def parse_label(text: str) -> Label:
    """Parse a PDS3 label (detached, or the head of a file with an attached label).

    Raises :class:`LabelError` only when the text is not a label at all (no ``END``, no PDS3
    keyword); syntax problems of a label are listed in :attr:`Label.problems`."""
    scan = scan_label(text)
    if scan.end_line is None:
        raise LabelError("no END statement: not a PDS3 label")
    keys = {st.key for st in scan.statements}
    if not keys & {"PDS_VERSION_ID", "RECORD_TYPE", "OBJECT"}:
        raise LabelError("no PDS_VERSION_ID, RECORD_TYPE or OBJECT: not a PDS3 label")
    label = Label(length=scan.length, problems=scan.syntax_problems + scan.nesting)
    stack: list[LabelObject] = []
    for st in scan.statements:
        key, raw = st.key, st.raw
        value = parse_value(raw)
        if key in ("OBJECT", "GROUP"):
            obj = LabelObject(kind=key, name=str(value))
            (stack[-1].children if stack else label.objects).append(obj)
            stack.append(obj)
        elif key in _END_BLOCK:
            if stack:
                stack.pop()
        elif stack:
            stack[-1].keywords[key] = value
        elif key.startswith("^"):
            label.pointers[key[1:]] = _pointer(value, raw)
        else:
            label.keywords[key] = value
    return label


def read_attached_label(head: bytes) -> Label:
    """The label at the start of a file with an attached PDS3 label (e.g. ``*.a01``)."""
    return parse_label(head.decode("latin-1"))


# -- checksum manifests ---------------------------------------------------------------------
def normalise_manifest_path(path: str) -> str:
    """Lower case, forward slashes, no drive letter, no leading ``./`` or ``/``."""
    path = path.strip().strip('"').replace("\\", "/")
    path = re.sub(r"^[A-Za-z]:/", "", path)
    while path.startswith(("./", "/")):
        path = path[2:] if path.startswith("./") else path[1:]
    return path.lower()


def parse_md5_manifest(text: str) -> dict[str, str]:
    """``{normalised path: md5}`` from an MD5Deep/md5sum-style table; other lines (a PDS
    label at the top, blank lines) are ignored."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        m = _MD5_LINE.match(line)
        if m:
            out[normalise_manifest_path(m.group(2))] = m.group(1).lower()
    return out


def manifest_lookup(manifest: dict[str, str], volume_path: str) -> str | None:
    """The md5 a manifest gives for a file, by its path below the volume root
    (``data/shadr/x.tab``); manifest paths may carry the volume directory or more in front."""
    want = normalise_manifest_path(volume_path)
    hit = manifest.get(want)
    if hit:
        return hit
    tail = "/" + want
    matches = {md5 for path, md5 in manifest.items() if path.endswith(tail)}
    return matches.pop() if len(matches) == 1 else None
