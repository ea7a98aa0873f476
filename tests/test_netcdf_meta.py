"""capture.formats.netcdf: what is recorded from real netCDF files, and truncation detection."""

from __future__ import annotations

import json
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from capture.formats.netcdf import MAX_STRING, NetCDFProblem, classic_minimum_size, describe_netcdf
from tests.archives.gcm import Var, cf_attributes, netcdf_bytes

FORMATS = [
    "NETCDF4",
    "NETCDF4_CLASSIC",
    "NETCDF3_CLASSIC",
    "NETCDF3_64BIT_OFFSET",
    "NETCDF3_64BIT_DATA",
]


def sample(fmt: str) -> bytes:
    return netcdf_bytes(
        fmt,
        {"time": None, "lat": 3, "lon": 5},
        {
            "time": Var(("time",), {"units": "days since 2000-01-01"}, "f8"),
            "lat": Var(("lat",), {"units": "degrees_north", "standard_name": "latitude"}),
            "tas": Var(("time", "lat", "lon"), {"units": "K", "long_name": "air temperature"}),
            "mask": Var(("lat", "lon"), {"long_name": "land mask"}, "i2"),
        },
        cf_attributes("sample", "unit test", "nowhere"),
    )


@pytest.mark.parametrize("fmt", FORMATS)
def test_description_of_every_format(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "f.nc"
    path.write_bytes(sample(fmt))
    info = describe_netcdf(str(path))
    assert info["format"] == fmt
    assert info["dimensions"] == {"time": 3, "lat": 3, "lon": 5}
    assert info["unlimited"] == ["time"]
    assert info["variables"]["tas"] == {
        "dims": ["time", "lat", "lon"],
        "shape": [3, 3, 5],
        "dtype": "float32",
        "units": "K",
        "long_name": "air temperature",
    }
    assert info["variables"]["lat"]["standard_name"] == "latitude"
    assert (
        info["variables"]["mask"]["dtype"] == "int16" and "units" not in info["variables"]["mask"]
    )
    assert info["global_attributes"]["Conventions"] == "CF-1.6" == info["conventions"]
    json.dumps(info, allow_nan=False)  # catalog- and feed-safe


@pytest.mark.parametrize("fmt", FORMATS)
def test_truncated_files_are_problems(tmp_path: Path, fmt: str) -> None:
    data = sample(fmt)
    for keep in (len(data) - 1, len(data) // 2, 40):
        path = tmp_path / f"cut{keep}.nc"
        path.write_bytes(data[:keep])
        with pytest.raises(NetCDFProblem):
            describe_netcdf(str(path))


def test_not_netcdf_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "page.nc"
    path.write_bytes(b"<html><body>Service unavailable</body></html>")
    with pytest.raises(NetCDFProblem, match="not a readable netCDF"):
        describe_netcdf(str(path))


def test_single_record_variable_is_not_padded(tmp_path: Path) -> None:
    """One record variable: records are not padded to 4 bytes (classic format spec)."""
    path = tmp_path / "one.nc"
    ds = netCDF4.Dataset(path, "w", format="NETCDF3_CLASSIC")
    ds.createDimension("t", None)
    ds.createDimension("x", 3)
    ds.createVariable("v", "i2", ("t", "x"))[:] = np.ones((4, 3), dtype="i2")
    ds.close()
    with path.open("rb") as fh:
        assert classic_minimum_size(fh) == path.stat().st_size
    assert describe_netcdf(str(path))["dimensions"] == {"t": 4, "x": 3}


def test_attribute_values_are_json_safe(tmp_path: Path) -> None:
    path = tmp_path / "attrs.nc"
    ds = netCDF4.Dataset(path, "w", format="NETCDF4")
    ds.createDimension("x", 2)
    v = ds.createVariable("v", "f4", ("x",), fill_value=np.float32(np.nan))
    v.units = "1"
    ds.valid_range = np.array([0.0, 1.0])
    ds.missing = np.float64(np.inf)
    ds.history = "x" * (MAX_STRING + 10)
    ds.close()
    info = describe_netcdf(str(path))
    attrs = info["global_attributes"]
    assert attrs["valid_range"] == [0.0, 1.0] and attrs["missing"] == "inf"
    assert len(attrs["history"]) == MAX_STRING + 1
    json.dumps(info, allow_nan=False)
