"""ROCKE-3D emulator: the NCCS portal's ``/GISS_modelE/ROCKE-3D/`` tree as Apache 2.4 table
listings (sort links ``?C=N;O=D``, "Parent Directory", human sizes).

Layout from the public clients (see ``spiders/rocke3d.py``): ``publication-supplements/<paper>/
README.txt`` and ``<paper>/<run>/ANN<year>.aij<run>.nc`` / ``ANN<year>.aijl<run>.nc`` annual
ModelE diagnostics; ``data-share/<project>/`` beside it. Files are synthetic netCDF made at test
time (:mod:`tests.archives.gcm`): ModelE-like ``aij`` (lat-lon) and ``aijl`` (lat-lon-level)
fields with units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tests.archives.gcm import GcmArchive, Var, cf_attributes, netcdf_bytes
from tests.archives.server import ArchiveServer

MOUNT = "/GISS_modelE/ROCKE-3D/"


def aij_file(fmt: str, run: str, year: int) -> bytes:
    """A small ModelE ``aij`` (2-D lat-lon) annual diagnostics file."""
    return netcdf_bytes(
        fmt,
        {"lon": 8, "lat": 4, "shnhgm": 3},
        {
            "lon": Var(("lon",), {"units": "degrees_east", "standard_name": "longitude"}),
            "lat": Var(("lat",), {"units": "degrees_north", "standard_name": "latitude"}),
            "tsurf": Var(
                ("lat", "lon"),
                {
                    "units": "C",
                    "long_name": "SURFACE AIR TEMPERATURE",
                    "standard_name": "air_temperature",
                },
            ),
            "net_rad_planet": Var(
                ("lat", "lon"), {"units": "W/m^2", "long_name": "NET RADIATION OF PLANET"}
            ),
            "net_rad_planet_hemis": Var(
                ("shnhgm",), {"units": "W/m^2", "long_name": "NET RADIATION OF PLANET"}
            ),
        },
        {
            **cf_attributes(f"ANN{year}.aij{run}", "ROCKE-3D (GISS ModelE2.1)", "NASA GISS"),
            "xlabel": f"{run} (ROCKE-3D planet_2.0)",
            "fromto": f"From: {year} JAN 1, Hr 0 To: {year + 1} JAN 1, Hr 0",
        },
        seed=year,
    )


def aijl_file(fmt: str, run: str, year: int) -> bytes:
    """A small ModelE ``aijl`` (lat-lon-level) file with an unlimited record dimension."""
    return netcdf_bytes(
        fmt,
        {"time": None, "plm": 5, "lat": 4, "lon": 8},
        {
            "time": Var(("time",), {"units": "days since 4000-01-01"}, "f8"),
            "plm": Var(("plm",), {"units": "mb", "long_name": "PRESSURE"}),
            "t": Var(("time", "plm", "lat", "lon"), {"units": "C", "long_name": "TEMPERATURE"}),
            "u": Var(("time", "plm", "lat", "lon"), {"units": "m/s", "long_name": "EAST WIND"}),
        },
        cf_attributes(f"ANN{year}.aijl{run}", "ROCKE-3D (GISS ModelE2.1)", "NASA GISS"),
        seed=year + 1,
    )


@dataclass
class Rocke3DArchive(GcmArchive):
    mount: str = field(init=False, default=MOUNT)
    style: str = field(init=False, default="apache-table")


def default_archive(server: ArchiveServer, workdir: Path) -> dict[str, str]:
    """What ``scrapy crawl rocke3d`` with no arguments finds: one paper under
    ``publication-supplements/`` (README, rundeck, one run's annual ``aij`` netCDF-4 and
    ``aijl`` netCDF-3 diagnostics, about 40 KB in all), plus a ``data-share/`` project beside
    it that the default root leaves alone. No extra arguments are needed."""
    r3d = Rocke3DArchive(server)
    paper = "publication-supplements/Tsigaridis2025GMD-planet_2.0"
    run = f"{paper}/P2SAoM40_003"
    r3d.add(f"{paper}/README.txt", b"Tsigaridis et al. 2025, GMD: P2SAoM40 -> P2SAoM40_003\n")
    r3d.add(f"{run}/P2SAoM40.R", b"P2SAoM40: planet_2.0 aquaplanet, 40 m ocean\n")
    r3d.add(f"{run}/ANN4000.aijP2SAoM40.nc", aij_file("NETCDF4", "P2SAoM40", 4000))
    r3d.add(f"{run}/ANN4000.aijlP2SAoM40.nc", aijl_file("NETCDF3_CLASSIC", "P2SAoM40", 4000))
    r3d.add("data-share/hab4D/run1/ANN0001.aij.nc", aij_file("NETCDF4", "hab4D", 1))
    return {}
