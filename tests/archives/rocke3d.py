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

from tests.archives.gcm import GcmArchive, Var, cf_attributes, netcdf_bytes

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
