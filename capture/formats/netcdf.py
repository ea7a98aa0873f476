"""Describe a netCDF file for the catalog: format, dimensions, variables, global attributes.

Used by spiders' ``inspect_file`` hooks (GCM output trees), so it runs in an IO thread. The
netCDF-C/HDF5 libraries are not guaranteed thread-safe, so every call into ``netCDF4`` is
serialised by one process-wide lock.

Truncation: a truncated netCDF-4 (HDF5) file fails to open (HDF5 checks the stored end of
file), but a truncated netCDF-3 file opens and silently reads zeros past the end. So for the
classic formats (CDF-1, CDF-2, CDF-5) the header is parsed here and the smallest size the
header implies is compared with the file's size (format: "The NetCDF Classic Format
Specification", Unidata netCDF users' guide; netCDF-C always extends a closed classic file to
at least that size).
"""

from __future__ import annotations

import math
import os
import struct
import threading
from typing import Any, BinaryIO

_LOCK = threading.Lock()

#: Limits that keep one file's catalog record bounded (ModelE ``aij`` files carry ~500 vars).
MAX_VARIABLES = 2000
MAX_ATTRIBUTES = 200
MAX_STRING = 4096
MAX_ARRAY = 32
VARIABLE_ATTRIBUTES = ("units", "long_name", "standard_name")

# nc_type -> size in bytes (classic format spec: NC_BYTE=1 ... NC_UINT64=11)
_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
_NC_DIMENSION, _NC_VARIABLE, _NC_ATTRIBUTE = 0x0A, 0x0B, 0x0C
_STREAMING = 0xFFFFFFFF


class NetCDFProblem(ValueError):
    """The file is not a readable, complete netCDF file."""


# -- JSON-safe values ----------------------------------------------------------------------
def json_value(value: Any) -> Any:
    """A netCDF attribute value as something every JSON encoder accepts."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value if len(value) <= MAX_STRING else value[:MAX_STRING] + "…"
    import numpy as np  # here, not at import: spiders load this module at every crawl's start

    if isinstance(value, np.ndarray):
        items = [json_value(v) for v in value.ravel()[:MAX_ARRAY].tolist()]
        return items[0] if value.size == 1 else items
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value[:MAX_ARRAY]]
    return str(value)


# -- classic-format size check -------------------------------------------------------------
class _Reader:
    def __init__(self, fh: BinaryIO, version: int):
        self.fh = fh
        self.wide = version == 5  # CDF-5: 64-bit counts and sizes
        self.offset64 = version in (2, 5)

    def take(self, n: int) -> bytes:
        # A damaged count can claim gigabytes: never ask for more than the file still holds.
        here = self.fh.tell()
        end = self.fh.seek(0, 2)
        self.fh.seek(here)
        if n > end - here:
            raise NetCDFProblem(
                f"truncated netCDF (or a damaged header): the classic header claims {n} bytes "
                f"at offset {here}, the file has {end - here} left"
            )
        data = self.fh.read(n)
        if len(data) != n:
            raise NetCDFProblem("truncated netCDF: the classic header ends early")
        return data

    def u32(self) -> int:
        value: int = struct.unpack(">I", self.take(4))[0]
        return value

    def count(self) -> int:
        return struct.unpack(">Q", self.take(8))[0] if self.wide else self.u32()

    def offset(self) -> int:
        return struct.unpack(">Q", self.take(8))[0] if self.offset64 else self.u32()

    def name(self) -> str:
        n = self.count()
        raw = self.take(n + (-n % 4))
        return raw[:n].decode("utf-8", "replace")

    def skip_attributes(self) -> None:
        tag, n = self.u32(), self.count()
        if tag not in (0, _NC_ATTRIBUTE):
            raise NetCDFProblem(f"bad attribute list tag {tag:#x} in classic netCDF header")
        for _ in range(n):
            self.name()
            nc_type, nelems = self.u32(), self.count()
            size = _TYPE_SIZE.get(nc_type)
            if size is None:
                raise NetCDFProblem(f"unknown attribute type {nc_type} in classic netCDF header")
            nbytes = size * nelems
            self.take(nbytes + (-nbytes % 4))


def classic_minimum_size(fh: BinaryIO) -> int | None:
    """Smallest size a classic-format file must have, from its header; ``None`` when the file
    is not classic (e.g. HDF5-based netCDF-4) or its record count is not known (streaming)."""
    fh.seek(0)
    magic = fh.read(4)
    if len(magic) < 4 or magic[:3] != b"CDF" or magic[3] not in (1, 2, 5):
        return None
    r = _Reader(fh, magic[3])
    numrecs = r.count()
    if numrecs == _STREAMING and not r.wide:
        return None
    tag, ndims = r.u32(), r.count()
    if tag not in (0, _NC_DIMENSION):
        raise NetCDFProblem(f"bad dimension list tag {tag:#x} in classic netCDF header")
    dims = []
    for _ in range(ndims):
        r.name()
        dims.append(r.count())
    r.skip_attributes()
    tag, nvars = r.u32(), r.count()
    if tag not in (0, _NC_VARIABLE):
        raise NetCDFProblem(f"bad variable list tag {tag:#x} in classic netCDF header")
    variables = []  # (is_record, bytes per record or in total, begin)
    for _ in range(nvars):
        r.name()
        ids = [r.count() for _ in range(r.count())]
        r.skip_attributes()
        nc_type = r.u32()
        r.count()  # vsize: redundant, and saturated for huge variables
        begin = r.offset()
        if nc_type not in _TYPE_SIZE or any(i >= len(dims) for i in ids):
            raise NetCDFProblem("inconsistent variable in classic netCDF header")
        shape = [dims[i] for i in ids]
        is_record = bool(shape) and shape[0] == 0
        nbytes = math.prod(shape[1:] if is_record else shape) * _TYPE_SIZE[nc_type]
        variables.append((is_record, nbytes, begin))
    header_end = fh.tell()
    records = [v for v in variables if v[0]]
    recsize = (
        records[0][1] if len(records) == 1 else sum(n + (-n % 4) for _, n, _ in records)
    )  # one record variable: records are not padded (classic format spec)
    needed = header_end
    for is_record, nbytes, begin in variables:
        if is_record:
            if numrecs and nbytes:
                needed = max(needed, begin + (numrecs - 1) * recsize + nbytes)
        elif nbytes:
            needed = max(needed, begin + nbytes)
    return needed


def check_complete(path: str) -> None:
    """Raise :class:`NetCDFProblem` when a classic-format file is shorter than its header
    says (netCDF-4/HDF5 files are checked by the library when they are opened)."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        needed = classic_minimum_size(fh)
    if needed is not None and size < needed:
        raise NetCDFProblem(
            f"truncated netCDF: the header describes at least {needed} bytes, file has {size}"
        )


# -- description ---------------------------------------------------------------------------
def _attributes(obj: Any, limit: int) -> dict[str, Any]:
    names = obj.ncattrs()
    return {n: json_value(obj.getncattr(n)) for n in names[:limit]}


def _variable(var: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "dims": list(var.dimensions),
        "shape": [int(n) for n in var.shape],
        "dtype": str(var.dtype) if not isinstance(var.dtype, type) else var.dtype.__name__,
    }
    attrs = set(var.ncattrs())
    for name in VARIABLE_ATTRIBUTES:
        if name in attrs:
            info[name] = json_value(var.getncattr(name))
    return info


def describe_netcdf(path: str) -> dict[str, Any]:
    """Format, dimensions, variables (dims, units, long/standard names) and global attributes
    of a netCDF file; raises :class:`NetCDFProblem` for unreadable or truncated files."""
    import netCDF4

    check_complete(path)
    with _LOCK:
        try:
            ds = netCDF4.Dataset(path, "r")
        except OSError as exc:
            raise NetCDFProblem(f"not a readable netCDF file: {exc}") from exc
        try:
            names = list(ds.variables)
            info: dict[str, Any] = {
                "format": ds.file_format,
                "data_model": ds.data_model,
                "disk_format": ds.disk_format,
                "dimensions": {n: len(d) for n, d in ds.dimensions.items()},
                "unlimited": [n for n, d in ds.dimensions.items() if d.isunlimited()],
                "variables": {n: _variable(ds.variables[n]) for n in names[:MAX_VARIABLES]},
                "global_attributes": _attributes(ds, MAX_ATTRIBUTES),
            }
            if len(names) > MAX_VARIABLES:
                info["variables_truncated"] = len(names)
            if ds.groups:
                info["groups"] = list(ds.groups)
        except (OSError, RuntimeError) as exc:
            raise NetCDFProblem(f"cannot read netCDF metadata: {exc}") from exc
        finally:
            ds.close()
    conventions = info["global_attributes"].get("Conventions")
    if isinstance(conventions, str):
        info["conventions"] = conventions
    return info
