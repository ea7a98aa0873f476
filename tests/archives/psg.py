"""NASA PSG emulator: ``POST /api.php`` with a url-encoded ``file``/``type``[/``key``] form.

Answers like PSG (:mod:`spiders.psg_output`): plain text, HTTP 200 also for errors.

* ``file`` not starting with ``<``: an empty body (api.php returns nothing).
* A config whose ``<ATMOSPHERE-GCM-PARAMETERS>`` is present but not a full parameter list: the
  real error answer ``shared/samples/psg/api_error_response.txt`` (``# ERROR | GlobES | ...``),
  which is exactly what PSG answered VSPEC for a badly defined GCM parameter line.
* ``type=rad``: the real recorded answer ``api_type_rad_response.txt``; other types, and every
  type when the samples are absent, a synthetic answer in the same layout.

Every request's form is recorded in :attr:`PsgArchive.forms` (tests check the API key arrived).
"""

from __future__ import annotations

import pathlib
import re
from dataclasses import dataclass, field

from tests.archives.samples import samples_root
from tests.archives.server import ArchiveServer, Reply, Request

GCM = re.compile(r"^<ATMOSPHERE-GCM-PARAMETERS>(.*)$", re.M)
SYNTHETIC_ERROR = (
    "# ERROR | GlobES | The variable ATMOSPHERE-GCM-PARAMETERS, that defines the GCM values in "
    "the binary files has not been properly defined.\n"
)
TITLES = {"rad": "Radiance spectrum", "trn": "Transmittance spectrum", "noi": "Noise spectrum"}
COLUMNS = {
    "rad": "Wave/freq Total Noise Stellar Planet",
    "trn": "Wave/freq Total H2O CO2 O3",
    "noi": "Wave/freq Total Source Detector Telescope Background",
}


def synthetic_answer(psg_type: str, rows: int = 40) -> bytes:
    """A PSG answer in the recorded layout (header lines, then rows of floats)."""
    cols = COLUMNS.get(psg_type, "Wave/freq Value")
    lines = [
        "# ------------------------------------------------------------------------",
        f"# {TITLES.get(psg_type, 'Spectrum')}",
        "# NASA-GSFC Planetary Spectrum Generator (PSG) (Villanueva et al. 2018, 2022)",
        "# Synthesized on Tue Mar  5 10:20:30 2024",
        "# ------------------------------------------------------------------------",
        "# Spectral unit: Wavelength [um]",
        "# Radiance unit: Spectral irradiance [W/m2/um]",
        f"# {cols}",
    ]
    n = len(cols.split())
    for k in range(rows):
        wave = 1.0 * 1.02**k
        values = [f"{wave:.9e}"] + [f"{(j + 1) * 1e-11 / (1 + k):.7e}" for j in range(n - 1)]
        lines.append("  ".join(values))
    return ("\n".join(lines) + "\n").encode()


def _real(name: str) -> bytes | None:
    root = samples_root()
    path = root / "psg" / name if root else None
    return path.read_bytes() if path is not None and path.exists() else None


@dataclass
class PsgArchive:
    server: ArchiveServer
    forms: list[dict[str, list[str]]] = field(default_factory=list)
    answers: dict[str, bytes] = field(default_factory=dict)
    error_answer: bytes = b""
    real_samples: bool = False

    def __post_init__(self) -> None:
        rad, error = _real("api_type_rad_response.txt"), _real("api_error_response.txt")
        self.real_samples = rad is not None and error is not None
        self.answers = {t: synthetic_answer(t) for t in ("trn", "noi", "atm", "cfg")}
        self.answers["rad"] = rad if rad is not None else synthetic_answer("rad")
        self.error_answer = error if error is not None else SYNTHETIC_ERROR.encode()
        self.server.add("/api.php", self.api)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def answer_for(self, config: str, psg_type: str) -> bytes:
        if not config.startswith("<"):
            return b""
        gcm = GCM.search(config)
        if gcm is not None and len(gcm.group(1).split(",")) < 7:
            return self.error_answer
        return self.answers.get(psg_type, synthetic_answer(psg_type))

    def api(self, req: Request) -> Reply:
        if req.method != "POST":
            return Reply(b"", 200, content_type="text/plain")
        form = req.form()
        self.forms.append(form)
        config = (form.get("file") or [""])[0]
        psg_type = (form.get("type") or ["rad"])[0]
        return Reply(self.answer_for(config, psg_type), 200, content_type="text/plain")


def default_archive(server: ArchiveServer, workdir: pathlib.Path) -> dict[str, str]:
    """PSG's ``/api.php`` for a crawl with no arguments: the spider posts its seven shipped
    configs with ``type=rad`` and ``type=trn``; ``rad`` is answered with the recorded VSPEC
    answer (where the samples exist), ``trn`` with a synthetic answer in PSG's layout (a few
    KB each). The spider's 1 request/s makes the 14 answers take about 14 s. ``workdir`` is not
    needed. No extra arguments."""
    PsgArchive(server)
    return {}
