"""NASA Exoplanet Archive emulator: ``GET /TAP/sync`` (nexsciTAP), the spectra Firefly page and
its workspace files.

``/TAP/sync`` understands the ADQL the clients send (``select <cols>|*|count(*) from <table>``
with ``top n`` before the columns or after the table) and answers like the archive's TAP server
(Caltech-IPAC/nexsciTAP ``TAP/writerecsmodule.c`` and ``TAP/tap.py``): CSV with char values in
``"..."`` (embedded quotes NOT escaped), numbers bare, NULLs empty; TSV unquoted; VOTable 1.3
TABLEDATA with the writer's stray ``>`` after described numeric FIELDs; errors with HTTP 200 as a
VOTable ``QUERY_STATUS=ERROR`` (format votable) or ``{"status": "error", "msg": ...}``.

Real recorded bodies (``shared/samples/nasa_exoplanet_archive``) are served verbatim for the
queries they answered once :meth:`ExoplanetArchive.use_real_samples` is called; everything else
is a deterministic synthetic corpus (``ps``, ``pscomppars``, ``stellarhosts``, ``toi``,
``spectra``, the last listing the spectra added with :meth:`ExoplanetArchive.add_spectrum`).
:func:`default_archive` is the small corpus of a crawl with no arguments.
:meth:`ExoplanetArchive.malform` corrupts one table's answer (ragged row,
unterminated quote, rows cut at a line boundary).
"""

from __future__ import annotations

import hashlib
import pathlib
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from tests.archives.content import Blob
from tests.archives.samples import sample_path
from tests.archives.server import ArchiveServer, Reply, Request

SAMPLES = "nasa_exoplanet_archive"
# Real bodies recorded by ropensci/exoplanets for these exact requests (SOURCE.md).
RECORDED: dict[tuple[str, str], str] = {
    ("select * from k2names", "csv"): "tap_k2names_all_columns.csv",
    ("select * from k2names", "json"): "tap_k2names_all_columns.json",
    ("select pl_name from keplernames", "csv"): "tap_keplernames_pl_name.csv",
    ("select * from keplernames top 5", "csv"): "tap_keplernames_top5.csv",
    ("select pl_name from ps", "csv"): "tap_ps_pl_name.head300.csv",
    ("select pl_name,discoverymethod from ps", "csv"): "tap_ps_pl_name_discoverymethod.head300.csv",
}
ADQL = re.compile(
    r"^select\s+(?:top\s+(?P<top1>\d+)\s+)?(?P<cols>.+?)\s+from\s+(?P<table>[\w.]+)"
    r"(?:\s+top\s+(?P<top2>\d+))?\s*$",
    re.I | re.S,
)
TOKEN = "TMP_capture_4242_17"
CONTENT_TYPES = {"csv": "text/plain", "tsv": "text/plain", "votable": "text/xml"}


@dataclass
class Column:
    name: str
    type: str  # char | int | double
    unit: str = ""
    description: str = ""


@dataclass
class TapTable:
    name: str
    columns: list[Column]
    rows: list[list[Any]]

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


def _num(seed: str, lo: float, hi: float) -> float:
    h = int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return round(lo + (hi - lo) * h, 4)


def _cols(spec: str) -> list[Column]:
    out = []
    for part in spec.split():
        name, _, typ = part.partition(":")
        out.append(Column(name, typ or "char", description=name.replace("_", " ")))
    return out


def synthetic_tables() -> dict[str, TapTable]:
    """Small deterministic tables with the real column names and types of the core tables."""
    planets = [(f"Kepler-{i} b", f"Kepler-{i}") for i in range(1, 13)] + [
        ("HD 189733 b", "HD 189733"),
        ("TRAPPIST-1 e", "TRAPPIST-1"),
    ]
    ps_cols = _cols(
        "pl_name hostname default_flag:int sy_snum:int sy_pnum:int discoverymethod "
        "disc_year:int pl_orbper:double pl_orbpererr1:double pl_rade:double pl_bmasse:double "
        "pl_refname st_spectype st_teff:double st_logg:double st_met:double sy_dist:double "
        "rowupdate"
    )
    ps_rows = []
    for i, (pl, host) in enumerate(planets):
        for ref in range(1 + i % 3):
            seed = f"{pl}/{ref}"
            ps_rows.append(
                [
                    pl,
                    host,
                    1 if ref == 0 else 0,
                    1,
                    1 + i % 4,
                    "Transit" if i % 5 else "Radial Velocity",
                    2009 + i % 12,
                    _num(seed + "p", 0.5, 400),
                    None if ref else _num(seed + "pe", 0, 0.01),
                    _num(seed + "r", 0.6, 14),
                    None if i % 4 == 0 else _num(seed + "m", 0.3, 900),
                    # Real refnames are HTML with commas and no quotes inside.
                    f"<a refstr=REF_{i}_{ref} href=https://ui.adsabs.harvard.edu/abs/20{10 + ref}"
                    f"ApJ...{i}/abstract target=ref>Author et al., 20{10 + ref}</a>",
                    "G2 V" if i % 3 else None,
                    _num(seed + "t", 2500, 6500),
                    _num(seed + "g", 3.8, 5.2),
                    _num(seed + "z", -0.5, 0.5),
                    _num(seed + "d", 10, 1200),
                    f"2024-0{1 + i % 9}-1{ref}",
                ]
            )
    comp_cols = ps_cols[:2] + ps_cols[3:]  # no default_flag in pscomppars
    comp_rows = [r[:2] + r[3:] for r in ps_rows if r[2] == 1]
    hosts_cols = _cols(
        "sy_name hostname sy_snum:int st_refname st_teff:double st_logg:double st_met:double "
        "st_rad:double ra:double dec:double"
    )
    hosts_rows = [
        [
            host,
            host,
            1,
            f"<a refstr=ST_{n} href=https://ui.adsabs.harvard.edu/abs/x{n} target=ref>Star {n}</a>",
            _num(host + "t", 2500, 6500),
            None if n % 3 == 0 else _num(host + "g", 3.8, 5.2),
            _num(host + "z", -0.5, 0.5),
            _num(host + "r", 0.1, 2),
            _num(host + "ra", 0, 360),
            _num(host + "de", -90, 90),
        ]
        for n, host in enumerate(sorted({h for _, h in planets}))
    ]
    toi_cols = _cols(
        "toi:double tid:int tfopwg_disp pl_orbper:double pl_rade:double st_tmag:double "
        "st_teff:double st_logg:double st_rad:double toi_created comments"
    )
    toi_rows = [
        [
            100 + n + 0.01,
            25155310 + n * 7,
            ("PC", "CP", "KP", "FP")[n % 4],
            _num(f"toi{n}p", 0.3, 30),
            _num(f"toi{n}r", 0.7, 20),
            _num(f"toi{n}m", 5, 13),
            None if n == 3 else _num(f"toi{n}t", 3000, 7000),
            _num(f"toi{n}g", 3.5, 5),
            _num(f"toi{n}s", 0.2, 3),
            f"2019-0{1 + n % 9}-05 12:00:00",
            # Quotes inside a char value are written raw by the archive's CSV writer.
            'seen with 5" aperture, "odd-even" check' if n == 2 else "",
        ]
        for n in range(20)
    ]
    return {
        "ps": TapTable("ps", ps_cols, ps_rows),
        "pscomppars": TapTable("pscomppars", comp_cols, comp_rows),
        "stellarhosts": TapTable("stellarhosts", hosts_cols, hosts_rows),
        "toi": TapTable("toi", toi_cols, toi_rows),
    }


# -- writers (nexsciTAP TAP/writerecsmodule.c) -----------------------------------------------
def _cell(col: Column, value: Any, fmt: str) -> str:
    if value is None:
        return ""
    if col.type == "char":
        return f'"{value}"' if fmt == "csv" else str(value)
    if col.type == "int":
        return str(int(value))
    return f"{float(value):.6f}"


def write_delimited(table: TapTable, cols: list[Column], rows: list[list[Any]], fmt: str) -> str:
    sep = "," if fmt == "csv" else "\t"
    index = [table.columns.index(c) for c in cols]
    lines = [sep.join(c.name for c in cols)]
    for row in rows:
        lines.append(sep.join(_cell(c, row[i], fmt) for c, i in zip(cols, index, strict=True)))
    return "\n".join(lines) + "\n"


def write_votable(table: TapTable, cols: list[Column], rows: list[list[Any]]) -> str:
    out = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<VOTABLE version="1.3" xmlns="http://www.ivoa.net/xml/VOTable/v1.3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:noNamespaceSchemaLocation="http://www.ivoa.net/xml/VOTable/v1.3">',
        '  <RESOURCE type="results">',
        '  <INFO name="QUERY_STATUS" value="OK"/>',
        "  <TABLE>",
    ]
    for c in cols:
        unit = f' unit="{c.unit}"' if c.unit else ""
        if c.type == "char":
            out.append(
                f'    <FIELD ID="{c.name}" arraysize="*" datatype="char" name="{c.name}"{unit}>'
            )
            out.append(f"  <DESCRIPTION><![CDATA[ {c.description} ]]></DESCRIPTION>")
            out.append("</FIELD>")
        else:
            out.append(f'    <FIELD ID="{c.name}" datatype="{c.type}" name="{c.name}"{unit}>')
            out.append(f"  <DESCRIPTION><![CDATA[ {c.description} ]]></DESCRIPTION>")
            out.append("    </FIELD>\n>")  # sic: the writer's stray '>'
    out += ["    <DATA>", "      <TABLEDATA>"]
    index = [table.columns.index(c) for c in cols]
    for row in rows:
        out.append("        <TR>")
        for c, i in zip(cols, index, strict=True):
            value = row[i]
            if value is None:
                out.append("        <TD></TD>")
            elif c.type == "char":
                out.append(f"        <TD><![CDATA[{value}]]></TD>")
            else:
                out.append(f"        <TD>{_cell(c, value, 'votable')}</TD>")
        out.append("        </TR>")
    out += ["      </TABLEDATA>", "    </DATA>", "  </TABLE>", "  </RESOURCE>", "</VOTABLE>"]
    return "\n".join(out) + "\n"


def error_reply(fmt: str, message: str) -> Reply:
    """nexsciTAP ``__printError__``: HTTP 200, VOTable for votable, JSON otherwise."""
    if fmt == "votable":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">\n'
            '<RESOURCE type="results">\n<INFO name="QUERY_STATUS" value="ERROR">\n'
            f"{message}\n</INFO>\n</RESOURCE>\n</VOTABLE>\n"
        )
        return Reply(body.encode(), 200, content_type="text/xml")
    body = '{\n    "status": "error",\n    "msg": "%s"\n}\n' % message  # noqa: UP031
    return Reply(body.encode(), 200, content_type="application/json")


# -- spectra ---------------------------------------------------------------------------------
def ipac_spectrum(pl_name: str, spec_type: str, points: int) -> bytes:
    names = ["CENTRALWAVELNG", "BANDWIDTH", "PL_TRANDEP", "PL_TRANDEPERR1", "PL_TRANDEPERR2"]
    names.append("PL_TRANDEPLIM")
    types = ["double"] * 5 + ["int"]
    units = ["microns", "microns", "%", "%", "%", ""]
    width = 16
    bar = lambda vals: "|" + "|".join(f"{v:<{width}}" for v in vals) + "|"  # noqa: E731
    lines = [
        f"\\PL_NAME = '{pl_name}'",
        f"\\SPEC_TYPE = '{spec_type}'",
        "\\REFERENCE = 'Author et al. 2023'",
        bar(names),
        bar(types),
        bar(units),
        bar(["null"] * 6),
    ]
    for k in range(points):
        wave = 0.6 + 0.1 * k
        vals = [wave, 0.05, _num(f"{pl_name}{k}", 0.5, 0.6), 0.01, -0.01]
        lines.append(" " + " ".join(f"{v:<{width}.6f}" for v in vals) + f" {0:<{width}d}")
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Spectrum:
    spec_path: str
    pl_name: str
    spec_type: str
    points: int
    body: bytes


@dataclass
class ExoplanetArchive:
    server: ArchiveServer
    tables: dict[str, TapTable] = field(default_factory=synthetic_tables)
    recorded: dict[tuple[str, str], bytes] = field(default_factory=dict)
    malformed: dict[str, str] = field(default_factory=dict)
    spectra: list[Spectrum] = field(default_factory=list)
    token: str = TOKEN
    queries: list[tuple[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.server.add("/TAP/sync", self.tap_sync)
        self.server.add("/cgi-bin/atmospheres/nph-firefly", self.firefly_page)
        self.server.add_prefix("/workspace/", self.workspace_file)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def use_real_samples(self) -> None:
        """Serve the recorded bodies for their queries (skips the test when samples are absent)."""
        for key, name in RECORDED.items():
            self.recorded[key] = sample_path(SAMPLES, name).read_bytes()

    def malform(self, table: str, kind: str) -> None:
        """``ragged``, ``unterminated`` or ``cut`` (rows lost at a line boundary)."""
        assert kind in ("ragged", "unterminated", "cut")
        self.malformed[table] = kind

    def add_spectrum(self, spec_path: str, pl_name: str, spec_type: str, points: int) -> Spectrum:
        spectrum = Spectrum(
            spec_path, pl_name, spec_type, points, ipac_spectrum(pl_name, spec_type, points)
        )
        self.spectra.append(spectrum)
        return spectrum

    # -- TAP -------------------------------------------------------------------------------
    def body_for(self, adql: str, fmt: str) -> tuple[bytes, str] | Reply:
        """The exact answer to a query: (body, content type) or an error reply."""
        key = (re.sub(r"\s+", " ", adql.strip()), fmt)
        if key in self.recorded:
            ctype = "application/json" if fmt == "json" else CONTENT_TYPES.get(fmt, "text/plain")
            return self.recorded[key], ctype
        match = ADQL.match(adql.strip())
        if match is None:
            return error_reply(fmt, f"ADQL syntax error near: {adql[:40]}")
        name = match["table"]
        table = self.table(name)
        if table is None:
            return error_reply(fmt, f"ORA-00942: table or view does not exist [{name}]")
        rows = table.rows
        top = match["top1"] or match["top2"]
        if top:
            rows = rows[: int(top)]
        cols_spec = match["cols"].strip()
        if cols_spec.lower() == "count(*)":
            return self.count_body(name, len(rows), fmt)
        if cols_spec == "*":
            cols = table.columns
        else:
            cols = []
            for cname in (c.strip().lower() for c in cols_spec.split(",")):
                col = table.column(cname)
                if col is None:
                    return error_reply(fmt, f'ORA-00904: "{cname.upper()}": invalid identifier')
                cols.append(col)
        if fmt == "votable":
            text = write_votable(table, cols, rows)
        elif fmt in ("csv", "tsv"):
            text = write_delimited(table, cols, rows, fmt)
        else:
            return error_reply("votable", f"Response format({fmt}) must be: votable, csv, tsv")
        return self.corrupt(name, text, fmt).encode(), CONTENT_TYPES[fmt]

    def count_body(self, name: str, n: int, fmt: str) -> tuple[bytes, str]:
        """Oracle's COUNT(*) column, lower-cased by the writer; an int, so unquoted."""
        return f"count(*)\n{n}\n".encode(), CONTENT_TYPES.get(fmt, "text/plain")

    def table(self, name: str) -> TapTable | None:
        if name in self.tables:
            return self.tables[name]
        if name == "spectra":  # the archive always has it, possibly without rows here
            return self.spectra_table()
        recorded = self.recorded.get((f"select * from {name}", "csv"))
        if recorded is not None:  # a real table: its recorded body answers count(*) too
            lines = recorded.decode().splitlines()
            cols = [Column(c, "char") for c in lines[0].split(",")]
            return TapTable(name, cols, [[None] * len(cols)] * (len(lines) - 1))
        return None

    def spectra_table(self) -> TapTable:
        cols = _cols(
            "pl_name spec_type bibcode authors num_datapoints:int instrument facility "
            "minwavelng:double maxwavelng:double note spec_path"
        )
        rows = [
            [
                s.pl_name,
                s.spec_type,
                "2023Natur.614..649X",
                "<a href=https://ui.adsabs.harvard.edu/abs/x target=ref>Author et al. 2023</a>",
                s.points,
                "NIRSpec",
                "James Webb Space Telescope (JWST)",
                0.6,
                0.6 + 0.1 * (s.points - 1),
                "",
                s.spec_path,
            ]
            for s in self.spectra
        ]
        return TapTable("spectra", cols, rows)

    def corrupt(self, name: str, text: str, fmt: str) -> str:
        kind = self.malformed.get(name)
        if kind is None or fmt not in ("csv", "tsv"):
            return text
        lines = text.split("\n")
        sep = "," if fmt == "csv" else "\t"
        if kind == "ragged":
            row = lines[2].split(sep)
            lines[2] = sep.join(row[:-2])  # a row with two fields missing
        elif kind == "unterminated":
            last = lines[-2]
            lines[-2] = last[: last.rindex('"')]  # the final closing quote is missing
        elif kind == "cut":
            lines = [*lines[: len(lines) // 2], ""]  # the answer stops at a line boundary
        return "\n".join(lines)

    def tap_sync(self, req: Request) -> Reply:
        adql = req.arg("query", "") or ""
        fmt = (req.arg("format") or req.arg("responseformat") or "votable").lower()
        self.queries.append((adql, fmt))
        answer = self.body_for(adql, fmt)
        if isinstance(answer, Reply):
            return answer
        body, ctype = answer
        return Reply(body, 200, content_type=ctype)

    # -- spectra files ---------------------------------------------------------------------
    def firefly_page(self, req: Request) -> Reply:
        html = (
            "<!DOCTYPE html>\n<html><head><title>Atmospheric Spectroscopy</title>\n"
            '<script type="text/javascript">\n'
            f"  FF_InitPage ('/work/{self.token}/atmospheres/tab1', 'atmospheres');\n"
            "</script></head><body><div id='app'></div></body></html>\n"
        )
        return Reply(html.encode(), 200, content_type="text/html")

    def workspace_file(self, req: Request) -> Blob | Reply:
        prefix = f"/workspace/{self.token}/atmospheres/tab1/data/"
        if req.path.startswith(prefix):
            wanted = unquote(req.path[len(prefix) :])
            for s in self.spectra:
                if s.spec_path == wanted:
                    return Blob.of(s.body)
        return Reply(b"Not Found\n", 404, content_type="text/plain")


def default_archive(server: ArchiveServer, workdir: pathlib.Path) -> dict[str, str]:
    """The archive for a crawl with no arguments (the spider's core tables and spectra).

    ``ps`` (27 rows), ``pscomppars`` (14), ``stellarhosts`` (14) and ``spectra`` (3 rows)
    answer ``count(*)`` and ``select *`` as the TAP server does; the Firefly page gives the
    workspace token and the three IPAC ``.tbl`` spectra (a transmission spectrum of WASP-39 b,
    an eclipse spectrum of HD 189733 b, a transmission spectrum of TRAPPIST-1 e) are served
    under it. About 20 KB in all; ``workdir`` is not needed. No extra arguments."""
    exo = ExoplanetArchive(server)
    exo.add_spectrum("11/02/77/02/WASP_39_b_1.tbl", "WASP-39 b", "Transmission", 24)
    exo.add_spectrum("11/02/77/01/HD_189733_b_2.2_10_1.tbl", "HD 189733 b", "Eclipse", 12)
    exo.add_spectrum("44/05/12/03/TRAPPIST_1_e_1.tbl", "TRAPPIST-1 e", "Transmission", 8)
    return {}
