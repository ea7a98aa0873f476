"""Kurucz emulator: ``/grids.html`` (upper-case anchors with absolute ``http://kurucz.harvard.edu``
URLs, as PyAstronomy reads it) and the ``/grids/`` tree as Apache fancy-index listings.

The one real listing line recorded (``shared/samples/kurucz/SOURCE.md``) can be served verbatim
as the whole entry of a grid directory (:meth:`KuruczArchive.add_recorded_directory`); the rest
of the corpus is synthetic in the same format, with model files in Kurucz's text layout
(``TEFF ... GRAVITY ... LTE`` starting each model, ``ABUNDANCE SCALE`` on its fifth line).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.archives.autoindex import DirectoryTree
from tests.archives.content import Blob
from tests.archives.server import ArchiveServer, Reply

REAL_ORIGIN = "http://kurucz.harvard.edu"
ICON_HEADER = (
    '<img src="/icons/blank.gif" alt="Icon "> <a href="?C=N;O=D">Name</a>'
    '                    <a href="?C=M;O=A">Last modified</a>      '
    '<a href="?C=S;O=A">Size</a>  <a href="?C=D;O=A">Description</a><hr>'
)


def model_atmospheres(teffs: list[int], logg: float, scale: float = 1.0) -> bytes:
    """Concatenated models in the ATLAS9 ``a*.dat`` layout PyAstronomy parses."""
    lines = []
    for teff in teffs:
        lines += [
            f"TEFF   {teff}.  GRAVITY {logg:.5f} LTE ",
            "TITLE  [0.0] VTURB=2  L/H=1.25 NOVER NEW ODF",
            " OPACITY IFOP 1 1 1 1 1 1 1 1 1 1 1 1 1 1 0 1 0 0 0 0",
            " CONVECTION ON   1.25 TURBULENCE OFF  0.00  0.00  0.00  0.00",
            f"ABUNDANCE SCALE   {scale:.5f} ABUNDANCE CHANGE 1 0.92140 2 0.07843",
            "READ DECK6 72 RHOX,T,P,XNE,ABROSS,ACCRAD,VTURB",
            *(f" {i * 1.1e-3:.8E}  {teff * 0.6 + i:8.1f} 1.234E-01 5.678E+09" for i in range(72)),
        ]
    return ("\n".join(lines) + "\n").encode()


def flux_file(size: int) -> bytes:
    """An ASCII ``f*.pck`` flux file of exactly ``size`` bytes: per-model headers, then rows
    of packed fluxes (the fixed-width E-format text Kurucz's programs write)."""
    lines: list[str] = []
    total, teff = 0, 3500
    while total < size:
        block = [f"TEFF   {teff}.  GRAVITY 4.50000 LTE  TITLE SDSC GRID  [+0.0]  VTURB 2 KM/S"]
        block += [
            "".join(f"{(k + 1) * 1.0e-5 * (teff / 5000):10.4E}" for k in range(i, i + 8))
            for i in range(0, 1221, 8)
        ]
        lines += block
        total += sum(len(b) + 1 for b in block)
        teff += 250
    text = ("\n".join(lines) + "\n").encode()
    return text[: size - 1] + b"\n"


@dataclass
class KuruczArchive:
    server: ArchiveServer
    tree: DirectoryTree = field(init=False)
    index_links: list[tuple[str, str]] = field(default_factory=list)  # (href, text)

    def __post_init__(self) -> None:
        self.tree = DirectoryTree(self.server, mount="/grids/", style="apache")

    def add(self, rel: str, data: bytes | Blob) -> Blob:
        blob = data if isinstance(data, Blob) else Blob.of(data)
        self.tree.add(rel, blob)
        return blob

    def link(self, href: str, text: str) -> None:
        self.index_links.append((href, text))

    def add_recorded_directory(self, grid: str, line: str, name: str, blob: Blob) -> None:
        """A grid directory whose listing is one given entry line (e.g. the recorded one),
        served outside the ``/grids/`` listing: only ``grids.html`` can lead to it."""
        self.server.add(f"/grids/{grid}/{name}", blob)
        title = f"Index of /grids/{grid}"
        page = (
            '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
            f"  <title>{title}</title>\n </head>\n <body>\n<h1>{title}</h1>\n<pre>"
            f'{ICON_HEADER}<img src="/icons/back.gif" alt="[PARENTDIR]"> '
            '<a href="/grids/">Parent Directory</a>                             -   \n'
            f"{line}\n<hr></pre>\n</body></html>\n"
        )
        self.server.add(
            f"/grids/{grid}/", Reply(page.encode(), 200, content_type="text/html;charset=UTF-8")
        )

    def publish(self) -> str:
        """Serve grids.html (old-style upper-case HTML) and return the base URL."""
        rows = "\n".join(f'<A HREF="{href}">{text}</A><BR>' for href, text in self.index_links)
        page = (
            "<HTML><HEAD><TITLE>GRIDS</TITLE></HEAD>\n<BODY>\n<H2>Model atmosphere grids</H2>\n"
            f"{rows}\n</BODY></HTML>\n"
        )
        self.server.add("/grids.html", Reply(page.encode(), 200, content_type="text/html"))
        return self.server.base_url


def default_archive(server: ArchiveServer, workdir: Path) -> dict[str, str]:
    """The ATLAS9 grids as the spider finds them by default: the ``/grids/`` listing with
    ``gridP00ODFNEW/`` (model atmospheres ``ap00k2odfnew.dat``, a 20 KB flux file
    ``fp00k2odfnew.pck``), and ``gridM05ODFNEW/`` which only ``grids.html`` names (served outside
    the ``/grids/`` listing), linked there by an absolute URL to the mirror itself; the other
    grid is linked with the real ``http://kurucz.harvard.edu`` URL, as the real page does. No
    extra arguments."""
    kz = KuruczArchive(server)
    kz.add("gridP00ODFNEW/ap00k2odfnew.dat", model_atmospheres([3500, 5750, 9000], 4.5))
    kz.add("gridP00ODFNEW/fp00k2odfnew.pck", flux_file(20_000))
    m05 = Blob.of(model_atmospheres([5750], 4.0, 0.31623))
    line = (
        '<img src="/icons/blank.gif" alt="[   ]" width="20" height="20"> '
        f'<a href="am05k2odfnew.dat">am05k2odfnew.dat</a>{" " * 11}13-Apr-2011 15:07  20K  '
    )
    kz.add_recorded_directory("gridM05ODFNEW", line, "am05k2odfnew.dat", m05)
    kz.link(f"{REAL_ORIGIN}/grids/gridP00ODFNEW/", "GRIDP00ODFNEW")
    kz.link(f"{server.base_url}/grids/gridM05ODFNEW/", "GRIDM05ODFNEW")
    kz.publish()
    return {}
