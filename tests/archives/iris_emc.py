"""EarthScope/IRIS EMC emulator: the model file listing at the EarthScope archive path and
the legacy IRIS ``emc-files`` directory, serving netCDF Earth models.

``/archive/seismology/products/emc/netcdf/`` is rendered the way the one third-party client
of that server reads it (absolute links, ``?type=file`` on files, see ``spiders/iris_emc.py``);
``/files/products/emc/emc-files/`` as an Apache fancy index. Models are real netCDF files:
the recorded ``PNW10-S_kmps.nc`` (via ``sample_path``) and synthetic ones written here with
netCDF4 in the EMC layout (``depth, latitude, longitude`` grids, ACDD ``geospatial_*`` globals,
``repository_pid``), netCDF-4 classic as the current EMC standard requires.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

from tests.archives.autoindex import DirectoryTree
from tests.archives.content import Blob
from tests.archives.server import ArchiveServer

EARTHSCOPE_ROOT = "/archive/seismology/products/emc/netcdf/"
REAL_ORIGIN = "https://data.earthscope.org"
IRIS_ROOT = "/files/products/emc/emc-files/"


class EarthScopeListing(DirectoryTree):
    """The EarthScope archive's listing: absolute links, ``?type=file`` on files. Links point
    at the emulator itself (a mirror that rewrites them) unless ``link_origin`` is set, e.g. to
    ``REAL_ORIGIN`` for a mirror that serves the real pages verbatim."""

    link_origin: str | None = None

    def render(self, url_path: str, dirs: list[str], files: list[str], rel_dir: str) -> str:
        base = self.link_origin or self.server.base_url
        parent = "/".join(url_path.rstrip("/").split("/")[:-1]) + "/"
        rows = [f'<tr><td><a href="{base}{parent}">..</a></td><td></td></tr>']
        rows += [
            f'<tr><td><a href="{base}{url_path}{quote(d)}/">{html.escape(d)}/</a></td>'
            "<td>-</td></tr>"
            for d in dirs
        ]
        rows += [
            f'<tr><td><a href="{base}{url_path}{quote(f)}?type=file">{html.escape(f)}</a></td>'
            f"<td>{self.files[rel_dir + f].size}</td></tr>"
            for f in files
        ]
        return (
            "<!DOCTYPE html><html><head><title>EarthScope Data Archive</title></head><body>"
            f"<h1>{html.escape(url_path)}</h1><table><tr><th>Name</th><th>Size</th></tr>"
            + "".join(rows)
            + "</table></body></html>"
        )


def write_model(path: Path, *, fmt: str = "NETCDF4_CLASSIC", **attrs: Any) -> bytes:
    """A small EMC-style Earth model (vp in km.s-1 on depth x latitude x longitude); ``attrs``
    override global attributes (``None`` removes one)."""
    import netCDF4

    with netCDF4.Dataset(path, "w", format=fmt) as ds:
        for name, n in (("depth", 4), ("latitude", 3), ("longitude", 5)):
            ds.createDimension(name, n)
        depth = ds.createVariable("depth", "f4", ("depth",))
        depth.units, depth.long_name, depth.positive = "km", "depth below earth surface", "down"
        depth[:] = [0, 10, 20, 40]
        lat = ds.createVariable("latitude", "f4", ("latitude",))
        lat.units, lat.standard_name = "degrees_north", "latitude"
        lat[:] = [30.0, 30.5, 31.0]
        lon = ds.createVariable("longitude", "f4", ("longitude",))
        lon.units, lon.standard_name = "degrees_east", "longitude"
        lon[:] = [-120.0, -119.5, -119.0, -118.5, -118.0]
        vp = ds.createVariable("vp", "f4", ("depth", "latitude", "longitude"), fill_value=99999.0)
        vp.units, vp.long_name, vp.source = "km.s-1", "P-wave velocity", "data-derived"
        vp[:] = np.linspace(5.0, 8.0, 60, dtype="f4").reshape(4, 3, 5)
        merged = {
            **{
                "title": "Synthetic P-velocity model",
                "id": path.stem,
                "summary": "Emulator model",
                "Conventions": "CF-1.0",
                "geospatial_lat_min": 30.0,
                "geospatial_lat_max": 31.0,
                "geospatial_lat_units": "degrees_north",
                "geospatial_lon_min": -120.0,
                "geospatial_lon_max": -118.0,
                "geospatial_lon_units": "degrees_east",
                "geospatial_vertical_min": 0.0,
                "geospatial_vertical_max": 40.0,
                "geospatial_vertical_units": "km",
                "geospatial_vertical_positive": "down",
                "repository_pid": "doi:10.17611/dp/emc.synthetic",
                "data_layout": "vertex",
            },
            **attrs,
        }
        # None or "" removes an attribute (a model that lacks it)
        ds.setncatts({k: v for k, v in merged.items() if v not in (None, "")})
    return path.read_bytes()


class EmcArchive:
    def __init__(self, server: ArchiveServer, workdir: Path):
        self.server = server
        self.workdir = workdir
        self.earthscope = EarthScopeListing(server, mount=EARTHSCOPE_ROOT)
        self.iris = DirectoryTree(server, mount=IRIS_ROOT, style="apache")

    def model(self, name: str, **kw: Any) -> bytes:
        return write_model(self.workdir / name, **kw)


def default_archive(server: ArchiveServer, workdir: Path) -> dict[str, str]:
    """The EarthScope EMC netCDF directory the spider lists by default: two synthetic EMC
    models (netCDF-4 classic at the top, netCDF-3 classic in a subdirectory, a few KB each)
    and a README that the default ``include=*.nc`` leaves out. No extra arguments."""
    emc = EmcArchive(server, workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    emc.earthscope.add("SYN-VP.r0.0-n4c.nc", Blob.of(emc.model("SYN-VP.r0.0-n4c.nc")))
    older = emc.model("OLD-MODEL.nc", fmt="NETCDF3_CLASSIC", title="Synthetic legacy model")
    emc.earthscope.add("older/OLD-MODEL.nc", Blob.of(older))
    emc.earthscope.add("README.txt", Blob.of(b"EMC model files (netCDF)\n"))
    return {}
