"""Real files in real formats for quality tests (built with astropy / netCDF4 at test time)."""

from __future__ import annotations

import gzip
import io
import os
import tempfile
from pathlib import Path

import numpy as np

HTML = b"<!DOCTYPE html>\n<html><head><title>Error</title></head><body>Oops</body></html>\n"


def fits_bytes(checksum: bool = True, archive: str = "jwst_mast") -> bytes:
    from astropy.io import fits

    primary = fits.PrimaryHDU()
    hdr = primary.header
    if archive == "jwst_mast":
        hdr["TELESCOP"], hdr["INSTRUME"], hdr["DATE-OBS"] = "JWST", "NIRSPEC", "2022-07-10"
    hdr["DATE"], hdr["ORIGIN"] = "2022-07-11", "STScI"
    wave = np.linspace(0.6, 5.3, 4000)
    table = fits.BinTableHDU.from_columns(
        [
            fits.Column(name="WAVELENGTH", format="D", array=wave),
            fits.Column(name="FLUX", format="D", array=np.exp(-wave)),
        ],
        name="EXTRACT1D",
    )
    buf = io.BytesIO()
    fits.HDUList([primary, table]).writeto(buf, checksum=checksum)
    return buf.getvalue()


def fits_truncated() -> bytes:
    data = fits_bytes()
    return data[: len(data) - 2880]


def fits_bad_datasum() -> bytes:
    data = bytearray(fits_bytes())
    data[-2880 - 1000] ^= 0xFF  # flip bits inside the last HDU's data: DATASUM no longer matches
    return bytes(data)


def netcdf_bytes(fmt: str = "NETCDF4", cut: bool = False) -> bytes:
    import netCDF4

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "x.nc")
        ds = netCDF4.Dataset(path, "w", format=fmt)
        ds.Conventions = "CF-1.8"
        ds.title, ds.summary, ds.keywords = "Synthetic GCM output", "Surface temperature", "gcm"
        ds.history, ds.institution = "created by tests", "capture"
        ds.source, ds.references = "ROCKE-3D-like", "none"
        ds.createDimension("time", 12)
        ds.createDimension("lat", 46)
        ds.createDimension("lon", 72)
        for name, n, units in (
            ("time", 12, "days since 2000-01-01"),
            ("lat", 46, "degrees_north"),
            ("lon", 72, "degrees_east"),
        ):
            v = ds.createVariable(name, "f8", (name,))
            v.units = units
            v[:] = np.linspace(-87.5, 87.5, n) if name == "lat" else np.arange(n) * 5.0
        tas = ds.createVariable("tas", "f4", ("time", "lat", "lon"))
        tas.units, tas.standard_name = "K", "air_temperature"
        tas[:] = 250 + 30 * np.random.default_rng(1).random((12, 46, 72))
        ds.close()
        data = Path(path).read_bytes()
    return data[: len(data) // 2] if cut else data


def vcf_text(broken_header: bool = False) -> bytes:
    lines = [
        "##fileformat=VCFv4.2",
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    if broken_header:
        lines = ["fileformat VCF 4.2 (header mangled)", "CHROM POS ID REF ALT"]
    lines += [f"1\t{1000 + i}\trs{i}\tA\tG\t50\tPASS\tDP={10 + i}" for i in range(200)]
    return ("\n".join(lines) + "\n").encode()


def vcf_gz(broken_header: bool = False) -> bytes:
    return gzip.compress(vcf_text(broken_header))
