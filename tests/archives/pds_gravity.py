"""PDS Geosciences Node emulator: IIS directory pages over the gravity volumes, SHADR tables
with PDS3 labels (detached and attached) and volume MD5 manifests.

Formats: listings as the node's IIS serves them (``pds-geosciences.wustl.edu - /path/`` title,
``[To Parent Directory]``, ``M/D/YYYY  H:MM AM  <size|&lt;dir&gt;> <A HREF="/abs/path">``;
see ``spiders/pds_gravity.py`` for the sources). SHADR tables: 122-byte CR LF records, a
two-record header (8 comma-separated columns in 137 bytes + 105 pad) then one coefficient row
per record (107 bytes + 13 pad), values in Fortran ``E23.16`` (sample
``jgmro_110b_sha.tab.head_deg8``). Labels follow the real SHADR label layout
(``gtmes_150v05_sha.lbl`` detached, ``shgj180u.a01`` attached): ``FILE_RECORDS``,
``RECORD_BYTES``, ``^SHADR_HEADER_TABLE`` pointers, ``OBJECT``/``END_OBJECT`` and ``END``.
Manifests: MD5Deep lines ``<md5>  <path>`` (``index/md5.tab`` with backslash upper-case paths
from the volume root, or a dated ``<volume>_<yyyymmdd>.md5`` beside the volume).
"""

from __future__ import annotations

import hashlib
import html
import math
import pathlib
from dataclasses import dataclass, field
from urllib.parse import quote

from tests.archives.autoindex import DirectoryTree
from tests.archives.content import Blob
from tests.archives.server import ArchiveServer

RECORD = 122
HOST = "pds-geosciences.wustl.edu"


def fortran_e(value: float, width: int = 23, digits: int = 16) -> str:
    """Fortran ``E23.16``: `` 0.3396000000000000E+04``."""
    if value == 0:
        mantissa, exponent = 0.0, 0
    else:
        exponent = math.floor(math.log10(abs(value))) + 1
        mantissa = value / 10**exponent
    sign = "-" if mantissa < 0 else ""
    text = f"{sign}0.{f'{abs(mantissa):.{digits}f}'[2:]}E{exponent:+03d}"
    return text.rjust(width)


def shadr_table(radius: float, gm: float, degree: int) -> bytes:
    """A SHADR table of the given degree (header + every (l, m) row up to ``degree``)."""
    header = ",".join(
        [
            fortran_e(radius),
            fortran_e(gm),
            fortran_e(gm * 1e-9),
            f"{degree:5d}",
            f"{degree:5d}",
            f"{1:5d}",
            fortran_e(0.0),
            fortran_e(0.0),
        ]
    )
    assert len(header) == 137
    records = [header.ljust(2 * RECORD - 2) + "\r\n"]
    for degree_l in range(1, degree + 1):
        for m in range(degree_l + 1):
            c = ((degree_l * 31 + m * 7) % 97 - 48) * 1e-7 / degree_l**2
            s = 0.0 if m == 0 else ((degree_l * 13 + m * 5) % 89 - 44) * 1e-7 / degree_l**2
            sigmas = (fortran_e(abs(c) * 1e-3), fortran_e(abs(s) * 1e-3))
            row = ",".join([f"{degree_l:5d}", f"{m:5d}", fortran_e(c), fortran_e(s), *sigmas])
            records.append(row.ljust(RECORD - 2) + "\r\n")
    return "".join(records).encode("ascii")


def _columns(names: list[tuple[str, str, int, int, str]]) -> str:
    return "".join(
        f"  OBJECT                   = COLUMN\r\n"
        f'    NAME                         = "{name}"\r\n'
        f"    DATA_TYPE                    = {dtype}\r\n"
        f"    START_BYTE                   = {start}\r\n"
        f"    BYTES                        = {nbytes}\r\n"
        f'    FORMAT                       = "{fmt}"\r\n'
        f"  END_OBJECT               = COLUMN\r\n\r\n"
        for name, dtype, start, nbytes, fmt in names
    )


HEADER_COLUMNS = [
    ("REFERENCE RADIUS", "ASCII_REAL", 1, 23, "E23.16"),
    ("CONSTANT", "ASCII_REAL", 25, 23, "E23.16"),
    ("UNCERTAINTY IN CONSTANT", "ASCII_REAL", 49, 23, "E23.16"),
    ("DEGREE OF FIELD", "ASCII_INTEGER", 73, 5, "I5"),
    ("ORDER OF FIELD", "ASCII_INTEGER", 79, 5, "I5"),
    ("NORMALIZATION STATE", "ASCII_INTEGER", 85, 5, "I5"),
    ("REFERENCE LONGITUDE", "ASCII_REAL", 91, 23, "E23.16"),
    ("REFERENCE LATITUDE", "ASCII_REAL", 115, 23, "E23.16"),
]
COEFFICIENT_COLUMNS = [
    ("COEFFICIENT DEGREE", "ASCII_INTEGER", 1, 5, "I5"),
    ("COEFFICIENT ORDER", "ASCII_INTEGER", 7, 5, "I5"),
    ("C", "ASCII_REAL", 13, 23, "E23.16"),
    ("S", "ASCII_REAL", 37, 23, "E23.16"),
    ("C UNCERTAINTY", "ASCII_REAL", 61, 23, "E23.16"),
    ("S UNCERTAINTY", "ASCII_REAL", 85, 23, "E23.16"),
]


def shadr_label(
    table_name: str,
    file_records: int,
    *,
    target: str,
    host: str,
    data_set_id: str,
    attached_records: int | None = None,
) -> str:
    """A SHADR label. Detached: pointers name ``table_name``; attached (``attached_records``
    label records): pointers are record numbers in this same file."""
    if attached_records is None:
        pointers = (
            f'^SHADR_HEADER_TABLE        = ("{table_name.upper()}",1)\r\n'
            f'^SHADR_COEFFICIENTS_TABLE  = ("{table_name.upper()}",3)\r\n'
        )
        label_records = ""
    else:
        pointers = (
            f"^SHADR_HEADER_TABLE        = {attached_records + 1}\r\n"
            f"^SHADR_COEFFICIENTS_TABLE  = {attached_records + 3}\r\n"
        )
        label_records = f"LABEL_RECORDS              = {attached_records}\r\n"
    product = table_name.rsplit(".", 1)[0].upper()
    return (
        "PDS_VERSION_ID             = PDS3\r\n"
        "RECORD_TYPE                = FIXED_LENGTH\r\n"
        f"FILE_RECORDS               = {file_records}\r\n"
        f"RECORD_BYTES               = {RECORD}\r\n"
        f"{label_records}"
        f'FILE_NAME                  = "{table_name.upper()}"\r\n'
        f"{pointers}"
        f'INSTRUMENT_HOST_NAME       = "{host}"\r\n'
        f'TARGET_NAME                = "{target}"\r\n'
        f'DATA_SET_ID                = "{data_set_id}"\r\n'
        'OBSERVATION_TYPE           = "GRAVITY FIELD"\r\n'
        f'PRODUCT_ID                 = "{product}"\r\n'
        "PRODUCT_RELEASE_DATE       = 2016-05-06\r\n"
        'DESCRIPTION                = "\r\n'
        "  Spherical harmonic gravity model written by the capture test\r\n"
        '  emulator in the SHADR layout."\r\n\r\n'
        "OBJECT                     = SHADR_HEADER_TABLE\r\n"
        "  ROWS                       = 1\r\n"
        "  COLUMNS                    = 8\r\n"
        "  ROW_BYTES                  = 137\r\n"
        "  ROW_SUFFIX_BYTES           = 107\r\n"
        "  INTERCHANGE_FORMAT         = ASCII\r\n"
        + _columns(HEADER_COLUMNS)
        + "END_OBJECT                 = SHADR_HEADER_TABLE\r\n\r\n"
        "OBJECT                     = SHADR_COEFFICIENTS_TABLE\r\n"
        f"  ROWS                       = {file_records - 2 - (attached_records or 0)}\r\n"
        "  COLUMNS                    = 6\r\n"
        "  ROW_BYTES                  = 107\r\n"
        "  ROW_SUFFIX_BYTES           = 15\r\n"
        "  INTERCHANGE_FORMAT         = ASCII\r\n"
        + _columns(COEFFICIENT_COLUMNS)
        + "END_OBJECT                 = SHADR_COEFFICIENTS_TABLE\r\n\r\nEND\r\n"
    )


def attached_product(name: str, table: bytes, **label_kw: str) -> bytes:
    """A Magellan-style file: the label padded to whole records, then the SHADR table."""
    probe = shadr_label(name, 0, attached_records=0, **label_kw)
    records = math.ceil((len(probe) + 40) / RECORD)
    total = records + len(table) // RECORD
    text = shadr_label(name, total, attached_records=records, **label_kw).encode("ascii")
    assert len(text) <= records * RECORD
    return text.ljust(records * RECORD, b" ") + table


class IISListing(DirectoryTree):
    """Directory pages in the IIS style the Geosciences node serves; links are host-relative
    (``/abs/path``) unless ``origin`` is set (then ``<origin>/abs/path``)."""

    origin: str = ""

    def render(self, url_path: str, dirs: list[str], files: list[str], rel_dir: str) -> str:
        url_path = self.origin + url_path
        parent = "/".join(url_path.rstrip("/").split("/")[:-1]) + "/"
        rows = [f'<A HREF="{parent}">[To Parent Directory]</A><br><br>']
        rows += [
            f' 9/20/2023 10:11 AM        &lt;dir&gt; <A HREF="{url_path}{quote(d)}/">'
            f"{html.escape(d)}</A><br>"
            for d in dirs
        ]
        rows += [
            f" 6/15/2016  2:54 PM {self.files[rel_dir + f].size:>12} "
            f'<A HREF="{url_path}{quote(f)}">{html.escape(f)}</A><br>'
            for f in files
        ]
        title = f"{HOST} - {html.escape(url_path[len(self.origin) :])}"
        return (
            f"<html><head><title>{title}</title></head><body><H1>{title}</H1><hr>\r\n\r\n"
            f"<pre>{''.join(rows)}</pre><hr></body></html>\r\n"
        )


@dataclass
class PdsGeosciences:
    server: ArchiveServer
    tree: IISListing = field(init=False)

    def __post_init__(self) -> None:
        self.tree = IISListing(self.server, mount="/")

    def add(self, path: str, data: bytes) -> Blob:
        blob = Blob.of(data)
        self.tree.add(path, blob)
        return blob

    def body(self, path: str) -> bytes:
        blob = self.tree.files[path]
        assert blob.data is not None
        return blob.data

    def md5(self, path: str) -> str:
        return hashlib.md5(self.body(path)).hexdigest()


MARS = "mro/mro-m-rss-5-sdp-v1/mrors_1xxx"
MOON = "grail/grail-l-lgrs-5-rdr-v1/grail_1001"
VENUS = "mgn/mgn-v-rss-5-gravity-l2-v1/mg_5201"
MERCURY = "messenger/mess-h-rss_mla-5-sdp-v1/messrs_1001"
LABELS = {
    "mars": {
        "target": "MARS",
        "host": "MARS RECONNAISSANCE ORBITER",
        "data_set_id": "MRO-M-RSS-5-SDP-V1.0",
    },
    "moon": {"target": "MOON", "host": "GRAIL-A", "data_set_id": "GRAIL-L-LGRS-5-RDR-V1.0"},
    "venus": {"target": "VENUS", "host": "MAGELLAN", "data_set_id": "MGN-V-RSS-5-GRAVITY-L2-V1.0"},
    "mercury": {
        "target": "MERCURY",
        "host": "MESSENGER",
        "data_set_id": "MESS-H-RSS/MLA-5-SDP-V1.0",
    },
}


def add_shadr(pds: PdsGeosciences, directory: str, name: str, table: bytes, labels: dict) -> None:
    """A SHADR table and its detached label (FILE_RECORDS from the table's length)."""
    pds.add(f"{directory}/{name}", table)
    label = shadr_label(name, len(table) // RECORD, **labels)
    pds.add(f"{directory}/{name[:-4]}.lbl", label.encode())


def default_archive(server: ArchiveServer, workdir: pathlib.Path) -> dict[str, str]:
    """One low-degree SHADR model per body in its real volume layout (IIS listings): Mars with
    its volume's ``index/md5.tab``, the Moon and Mercury with detached labels, Venus as a
    Magellan file with an attached label; a few KB each."""
    pds = PdsGeosciences(server)
    add_shadr(
        pds,
        f"{MARS}/data/shadr",
        "jgmro_008a_sha.tab",
        shadr_table(3396.0, 42828.3745, 8),
        LABELS["mars"],
    )
    sums = [(p, pds.md5(p)) for p in sorted(pds.tree.files) if p.startswith(MARS)]
    pds.add(
        f"{MARS}/index/md5.tab",
        "".join(
            f"{md5}  \\{p[len(MARS) + 1 :].replace('/', chr(92)).upper()}\r\n" for p, md5 in sums
        ).encode(),
    )
    add_shadr(
        pds, f"{MOON}/shadr", "jggrx_0010a_sha.tab", shadr_table(1738.0, 4902.8, 10), LABELS["moon"]
    )
    venus = attached_product("shgj008u.a01", shadr_table(6051.0, 324858.59, 8), **LABELS["venus"])
    pds.add(f"{VENUS}/gravity/shgj008u.a01", venus)
    add_shadr(
        pds,
        f"{MERCURY}/data/shadr",
        "gtmes_008v01_sha.tab",
        shadr_table(2439.4, 22031.8, 8),
        LABELS["mercury"],
    )
    return {}
