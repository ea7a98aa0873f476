"""PHOENIX (Göttingen) emulator: ``/data/HiResFITS/`` as Apache fancy-index listings with
synthetic FITS spectra.

No real listing or FITS file was captured (``shared/samples/phoenix/SOURCE.md``), so the tree
is synthetic in the documented formats: the real names (``Z-0.0/lte05800-4.50-0.0.PHOENIX-ACES-
AGSS-COND-2011-HiRes.fits``, alpha directories ``Z-0.0.Alpha=+0.20``), a 1-D float32 primary HDU
carrying the ``PHX*`` keywords of the archive's "Info on spectra" page, and the binary-table
abundance extension HiRes files have. Tests give names literally (not via the spider's code), so
the spider's name formatting is checked against the published names.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tests.archives.autoindex import DirectoryTree
from tests.archives.content import Blob
from tests.archives.server import ArchiveServer

ROOT = "/data/HiResFITS/"
GRID = "PHOENIX-ACES-AGSS-COND-2011"
WAVE = f"WAVE_{GRID}.fits"


def spectrum_fits(
    teff: float, logg: float, feh: float, alpha: float, n: int = 512, **header: Any
) -> bytes:
    """A HiRes spectrum file; ``header`` overrides/extends the primary header keywords."""
    from astropy.io import fits

    cards = {
        "PHXTEFF": float(teff),
        "PHXLOGG": float(logg),
        "PHXM_H": float(feh),
        "PHXALPHA": float(alpha),
        "PHXDUST": False,
        "PHXEOS": "ACES",
        "PHXVER": "16.01.00B",
        "PHXXI_L": 1.49,
        **header,
    }
    primary = fits.PrimaryHDU(np.linspace(1e6, 2e6, n, dtype=np.float32))
    for key, value in cards.items():
        if value is None:
            primary.header.remove(key, ignore_missing=True)
        else:
            primary.header[key] = value
    abundances = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="Element", format="2A", array=np.array(["H", "He"])),
            fits.Column(name="Abundance", format="E", array=np.array([12.0, 10.93])),
        ]
    )
    out = io.BytesIO()
    fits.HDUList([primary, abundances]).writeto(out)
    return out.getvalue()


def wave_fits(n: int = 512) -> bytes:
    from astropy.io import fits

    out = io.BytesIO()
    fits.PrimaryHDU(np.linspace(500.0, 55000.0, n)).writeto(out)
    return out.getvalue()


@dataclass
class PhoenixArchive:
    server: ArchiveServer
    style: str = "apache"
    tree: DirectoryTree = field(init=False)

    def __post_init__(self) -> None:
        self.tree = DirectoryTree(self.server, mount=ROOT, style=self.style)

    def add(self, rel: str, data: bytes | Blob) -> Blob:
        """Serve (and list) a file at a path below ``/data/HiResFITS/``."""
        blob = data if isinstance(data, Blob) else Blob.of(data)
        self.tree.add(rel, blob)
        return blob

    def add_spectrum(self, directory: str, name: str, *params: float, **header: Any) -> Blob:
        return self.add(f"{GRID}/{directory}/{name}", spectrum_fits(*params, **header))

    def hide_listing(self, rel_dir: str) -> None:
        """The directory's listing answers 403 (indexes disabled); its files stay served."""
        self.tree.hidden_dirs.add(rel_dir.strip("/"))

    def list_without_serving(self, rel_dir: str, name: str) -> None:
        """A listing entry whose file then answers 404."""
        key = rel_dir.strip("/") + "/" if rel_dir.strip("/") else ""
        self.tree.extra_links.setdefault(key, []).append(name)


def default_archive(server: ArchiveServer, workdir: Path) -> dict[str, str]:
    """The HiRes tree the spider walks by default (the whole grid, no filters): the wavelength
    file and four small spectra (512 samples each, about 10 KB) spread over the grid's corners:
    ``Z-0.0`` (2300 K and 12000 K), ``Z-1.0`` and the alpha directory ``Z-0.0.Alpha=+0.20``. No
    extra arguments."""
    phx = PhoenixArchive(server)
    phx.add(WAVE, wave_fits())
    suffix = f".{GRID}-HiRes.fits"
    for directory, stem, params in (
        ("Z-0.0", "lte02300-5.00-0.0", (2300, 5.0, 0.0, 0.0)),
        ("Z-0.0", "lte12000-3.50-0.0", (12000, 3.5, 0.0, 0.0)),
        ("Z-1.0", "lte05800-4.50-1.0", (5800, 4.5, -1.0, 0.0)),
        ("Z-0.0.Alpha=+0.20", "lte05800-4.50-0.0.Alpha=+0.20", (5800, 4.5, 0.0, 0.2)),
    ):
        phx.add_spectrum(directory, stem + suffix, *params)
    return {}
