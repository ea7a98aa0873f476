"""ExoCubed emulator: an NCCS-style ``/datashare/...`` tree served as nginx autoindex pages
(``../`` link, exact sizes), holding synthetic ExoCubed run outputs.

No public ExoCubed output location or file was found (see ``spiders/exocubed.py``); the files
follow what the model writes (cshsgy/ExoCubed ``examples/2023-Chen-exo3``): one combined netCDF
per run with ``temp``, ``vlat``, ``vlon``, ``vel1`` on ``time, x1, x2, x3`` (height and the two
cubed-sphere panel coordinates), made at test time with the netCDF4 package.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.archives.gcm import GcmArchive, Var, cf_attributes, netcdf_bytes
from tests.archives.server import ArchiveServer

MOUNT = "/datashare/exoplanets/exocubed/"


def run_output(fmt: str, case: str, seed: int = 0) -> bytes:
    """A combined ExoCubed run output (``<case>-main.nc``)."""
    dims = {"time": None, "x1": 6, "x2": 4, "x3": 4}
    field3d = ("time", "x1", "x2", "x3")
    return netcdf_bytes(
        fmt,
        dims,
        {
            "time": Var(("time",), {"units": "s", "long_name": "time"}, "f8"),
            "x1": Var(("x1",), {"units": "m", "long_name": "height"}),
            "x2": Var(("x2",), {"units": "1", "long_name": "gnomonic equiangle coordinate"}),
            "x3": Var(("x3",), {"units": "1", "long_name": "gnomonic equiangle coordinate"}),
            "temp": Var(field3d, {"units": "K", "long_name": "temperature"}),
            "vlat": Var(field3d, {"units": "m/s", "long_name": "latitudinal velocity"}),
            "vlon": Var(field3d, {"units": "m/s", "long_name": "longitudinal velocity"}),
            "vel1": Var(field3d, {"units": "m/s", "long_name": "vertical velocity"}),
        },
        {
            **cf_attributes(f"ExoCubed {case}", "ExoCubed (canoe/SNAP)", "University of Michigan"),
            "problem_id": case,
        },
        seed=seed,
    )


@dataclass
class ExoCubedArchive(GcmArchive):
    mount: str = field(init=False, default=MOUNT)
    style: str = field(init=False, default="nginx")


def default_archive(server: ArchiveServer, workdir: Path) -> dict[str, str]:
    """An NCCS-style tree of ExoCubed outputs at ``/datashare/exoplanets/exocubed/`` (two runs,
    netCDF-4 and netCDF-3), served all the same: with no public location confirmed, the spider
    has no default root, so a run with no arguments is *skipped* and requests nothing. Returns
    ``{}`` on purpose (that is the default being tested); ``{"root": MOUNT}`` captures it."""
    exo = ExoCubedArchive(server)
    exo.add("hot_jupiter/C48/hot_jupiter-main.nc", run_output("NETCDF4", "hot_jupiter", 1))
    exo.add("hs94/C32/hs94-main.nc", run_output("NETCDF3_64BIT_OFFSET", "hs94", 2))
    return {}
