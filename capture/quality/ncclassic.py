"""Read a netCDF classic header (CDF-1, CDF-2, CDF-5) to compute the size the file must have.

netCDF-C happily opens a classic file cut in the middle and returns fill values for the
missing data; the header, however, records where every variable starts and how long it is,
so truncation can be proven without reading the data (format: NetCDF Classic Format
Specification, docs.unidata.ucar.edu/netcdf-c "File Format Specifications").
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 4, 6: 8, 7: 1, 8: 2, 9: 4, 10: 8, 11: 8}
NC_DIMENSION, NC_VARIABLE, NC_ATTRIBUTE = 0x0A, 0x0B, 0x0C
STREAMING = 0xFFFFFFFF


class ClassicHeaderError(ValueError):
    pass


@dataclass
class ClassicLayout:
    version: int
    numrecs: int
    expected_size: int
    variables: int
    record_variables: int


class _Reader:
    def __init__(self, data: bytes, version: int):
        self.data, self.pos = data, 4
        self.big = version == 5
        self.off64 = version in (2, 5)

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ClassicHeaderError("header ends early (file truncated inside the header)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int32(self) -> int:
        return struct.unpack(">I", self._take(4))[0]

    def count(self) -> int:
        return struct.unpack(">Q", self._take(8))[0] if self.big else self.int32()

    def offset(self) -> int:
        return struct.unpack(">Q", self._take(8))[0] if self.off64 else self.int32()

    def name(self) -> str:
        n = self.count()
        raw = self._take(n)
        self._take((4 - n % 4) % 4)
        return raw.decode("utf-8", "replace")

    def skip_values(self, nc_type: int, n: int) -> None:
        size = TYPE_SIZES.get(nc_type)
        if size is None:
            raise ClassicHeaderError(f"unknown nc_type {nc_type}")
        total = size * n
        self._take(total + (4 - total % 4) % 4)

    def attributes(self) -> None:
        tag, n = self.int32(), self.count()
        if tag == 0 and n == 0:
            return
        if tag != NC_ATTRIBUTE:
            raise ClassicHeaderError(f"bad attribute list tag {tag:#x}")
        for _ in range(n):
            self.name()
            nc_type = self.int32()
            self.skip_values(nc_type, self.count())


def read_layout(data: bytes) -> ClassicLayout:
    """Parse the header bytes (the first few MB of the file are enough for any real header)."""
    if len(data) < 8 or data[:3] != b"CDF" or data[3] not in (1, 2, 5):
        raise ClassicHeaderError("not a netCDF classic file (magic CDF\\x01/\\x02/\\x05)")
    version = data[3]
    r = _Reader(data, version)
    numrecs = r.count()
    dims: list[int] = []
    tag, n = r.int32(), r.count()
    if not (tag == 0 and n == 0):
        if tag != NC_DIMENSION:
            raise ClassicHeaderError(f"bad dimension list tag {tag:#x}")
        for _ in range(n):
            r.name()
            dims.append(r.count())
    r.attributes()
    tag, n = r.int32(), r.count()
    end_fixed = r.pos
    record_begin, recsize, n_rec = None, 0, 0
    if not (tag == 0 and n == 0):
        if tag != NC_VARIABLE:
            raise ClassicHeaderError(f"bad variable list tag {tag:#x}")
        for _ in range(n):
            r.name()
            dimids = [r.count() for _ in range(r.count())]
            r.attributes()
            r.int32()  # nc_type
            vsize = r.count()
            begin = r.offset()
            is_record = bool(dimids) and dimids[0] < len(dims) and dims[dimids[0]] == 0
            if is_record:
                n_rec += 1
                recsize += vsize
                record_begin = begin if record_begin is None else min(record_begin, begin)
            else:
                end_fixed = max(end_fixed, begin + vsize)
    expected = end_fixed
    if record_begin is not None and numrecs not in (STREAMING,):
        expected = max(expected, record_begin + numrecs * recsize)
    return ClassicLayout(version, numrecs, expected, n, n_rec)
