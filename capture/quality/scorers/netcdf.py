"""netCDF (classic and 4) and HDF5.

Integrity (gates): the signature; the file's extent against what its own header records (the
classic header's data layout, the HDF5 superblock's end-of-file address: a cut file and one
with bytes appended both differ); the reference library opens it and reads its objects and
data (every chunk of compressed or checksummed datasets, within the time budget); Fletcher32
checksums. A library that cannot decode a dataset here (a filter plugin or datatype it lacks)
is a checker limit, reported as such, never as a defect of the file.

Conformance and metadata (scored, never gates): CF rules are checked only for files that
declare CF; missing optional CF/ACDD attributes and units count as absent (half credit), so
verified, readable bytes are never quarantined for thin metadata alone.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable
from typing import Any

from capture.quality.model import Outcome, Severity, Tier
from capture.quality.scorers.base import Checks, ScoreContext

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ACDD = (
    "title",
    "summary",
    "keywords",
    "Conventions",
    "history",
    "institution",
    "source",
    "references",
)
CREATOR_ANY = ("institution", "creator_name", "author_name", "repository_institution")
SAMPLE_VALUES = 200_000
#: Share of the time budget kept for the checks after the chunk-by-chunk data pass.
RESERVE = 0.3


def hdf5_signature_at(head: bytes) -> int | None:
    """HDF5 superblocks may sit at 0, 512, 1024, 2048... (user block)."""
    for offset in (0, 512, 1024, 2048, 4096):
        if head[offset : offset + 8] == HDF5_SIGNATURE:
            return offset
    return None


def hdf5_end_of_file(head: bytes, offset: int) -> int | None:
    """The end-of-file address the superblock at ``offset`` records (HDF5 File Format
    Specification, section II.A; the library compares it to the file's size, counting from
    the start of the file, user block included). None when the superblock is unreadable."""
    sb = head[offset:]
    if len(sb) < 12:
        return None
    version = sb[8]
    if version in (0, 1):
        size_of_offsets, first = sb[13], 24 + (4 if version == 1 else 0)
        index = 2  # base, free-space info, end of file, driver info
    elif version in (2, 3):
        size_of_offsets, first = sb[9], 12
        index = 2  # base, superblock extension, end of file, root object header
    else:
        return None
    fmt = {2: "<H", 4: "<I", 8: "<Q"}.get(size_of_offsets)
    start = first + index * size_of_offsets
    if fmt is None or len(sb) < start + size_of_offsets:
        return None
    (eof,) = struct.unpack_from(fmt, sb, start)
    return None if eof == (1 << (8 * size_of_offsets)) - 1 else int(eof)  # undefined address


def hdf5_extent(ctx: ScoreContext, checks: Checks, offset: int) -> bool:
    """Gate: the file is exactly as long as its superblock says (HDF5's own tools treat a
    difference as a crashed or damaged file: ``h5clear --filesize``)."""
    eof = hdf5_end_of_file(ctx.head(offset + 256), offset)
    size = os.path.getsize(ctx.path)  # the bytes on disk, whatever the catalog says
    if eof is None:
        checks.failed(
            "hdf5.extent",
            Tier.CONTAINER,
            Severity.HIGH,
            f"superblock at byte {offset} records no usable end-of-file address (unknown "
            "version or offset size, or the undefined address of a file never closed)",
            f"byte {offset}",
        )
        return False
    if size == eof:
        checks.passed(
            "hdf5.extent",
            Tier.CONTAINER,
            Severity.HIGH,
            f"{size} bytes, as the superblock's end-of-file address records",
        )
        return True
    checks.failed(
        "hdf5.extent",
        Tier.CONTAINER,
        Severity.HIGH,
        f"file is {eof - size} bytes shorter than the end-of-file address {eof} in its "
        "superblock: truncated"
        if size < eof
        else f"{size - eof} bytes after the end-of-file address {eof} recorded in the "
        "superblock: bytes appended to the file, or it was not closed cleanly",
        "end of file",
    )
    return False


def score_netcdf(ctx: ScoreContext) -> Checks:
    import netCDF4

    checks = Checks(
        "netCDF4-python", f"{netCDF4.__version__} (netCDF-C {netCDF4.__netcdf4libversion__})"
    )
    head = ctx.head(8192)
    classic = head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05")
    offset = hdf5_signature_at(head)
    checks.check(
        "netcdf.signature",
        Tier.CONTAINER,
        Severity.HIGH,
        classic or offset is not None,
        "netCDF classic" if classic else "netCDF-4/HDF5 signature",
        "neither a netCDF classic magic (CDF\\x01/\\x02/\\x05) nor an HDF5 signature",
    )
    if classic:
        if not _classic_size(ctx, checks):
            # The header's own counts and lengths run past the file (a damaged header):
            # netCDF-C would allocate what they claim before noticing (16 GiB for 16 flipped
            # bytes in scipy's example_2.nc, 272 bytes long).
            checks.failed(
                "netcdf.readable",
                Tier.CONTAINER,
                Severity.HIGH,
                "not opened with the netCDF library: the classic header does not fit the file",
            )
            return checks
    elif offset is not None:
        hdf5_extent(ctx, checks, offset)
    else:
        return checks
    try:
        ds = netCDF4.Dataset(ctx.path, "r")
    except OSError as exc:  # netCDF-C's verdict on the bytes (HDF errors, bad header)
        checks.failed(
            "netcdf.readable",
            Tier.CONTAINER,
            Severity.HIGH,
            f"netCDF library cannot open the file: {exc}"[:600],
        )
        return checks
    try:
        checks.passed(
            "netcdf.readable",
            Tier.CONTAINER,
            Severity.HIGH,
            f"{ds.data_model}: {len(ds.dimensions)} dimensions, {len(ds.variables)} variables",
        )
        _data_readable(ds, checks)
        if offset is not None:
            with checks.run("hdf5.data_readable", Tier.CONTAINER, Severity.HIGH):
                _hdf5_data(ctx, checks)
        cf = _cf(ds, checks)
        _units(ds, checks)
        if cf:
            _monotonic(ds, checks)
        else:
            checks.na(
                "netcdf.monotonic_coordinates",
                Tier.CONFORMANCE,
                Severity.LOW,
                "the file does not declare CF: CF coordinate rules not applied",
            )
        _globals(ds, checks)
        with checks.run("netcdf.valid_values", Tier.PLAUSIBILITY, Severity.LOW):
            _plausibility(ds, checks, ctx)
    finally:
        ds.close()
    return checks


def _classic_size(ctx: ScoreContext, checks: Checks) -> bool:
    """Gate: the classic header's data layout accounts for every byte (up to the 4-byte
    alignment the format pads to): fewer bytes is a cut file, more is junk appended. False:
    the header itself could not be read within the file."""
    from capture.formats.netcdf import NetCDFProblem, classic_minimum_size

    try:
        with open(ctx.path, "rb") as fh:
            needed = classic_minimum_size(fh)
    except (NetCDFProblem, EOFError, struct.error) as exc:
        checks.failed(
            "netcdf.classic_size",
            Tier.CONTAINER,
            Severity.HIGH,
            f"classic header unreadable: {exc}",
        )
        return False
    if needed is None:
        checks.na(
            "netcdf.classic_size",
            Tier.CONTAINER,
            Severity.HIGH,
            "record count not recorded (streaming file)",
        )
        return True
    size, padded = os.path.getsize(ctx.path), needed + (-needed % 4)
    if size < needed:
        message = f"header needs {needed} bytes but the file has {size}: cut in the middle"
    elif size > padded:
        message = (
            f"{size - needed} bytes after the {needed} bytes the header accounts for: "
            "bytes appended to the file"
        )
    else:
        message = ""
    checks.check(
        "netcdf.classic_size",
        Tier.CONTAINER,
        Severity.HIGH,
        not message,
        f"header accounts for {needed} bytes; file complete",
        message,
        "end of file" if message else None,
    )
    return True


def _data_readable(ds: Any, checks: Checks) -> None:
    bad: list[str] = []
    for name, var in ds.variables.items():
        if var.size == 0:
            continue
        try:
            first = tuple(0 for _ in var.shape)
            last = tuple(max(0, n - 1) for n in var.shape)
            var[first]
            var[last]
        except Exception as exc:
            bad.append(f"{name} ({type(exc).__name__}: {exc})"[:200])
    total = len(ds.variables)
    if bad:
        checks.failed(
            "netcdf.data_readable",
            Tier.CONTAINER,
            Severity.HIGH,
            f"cannot read data of {'; '.join(bad[:5])}",
            f"variable {bad[0].split(' ', 1)[0]}",
        )
    else:
        checks.passed(
            "netcdf.data_readable",
            Tier.CONTAINER,
            Severity.HIGH,
            f"first and last values of all {total} variables readable",
        )


def _cf(ds: Any, checks: Checks) -> bool:
    """Whether the file declares CF (then CF's rules apply); not declaring it is metadata
    the file lacks, not a defect."""
    conv = str(getattr(ds, "Conventions", "") or "")
    if "CF" in conv:
        checks.passed(
            "netcdf.cf_conventions", Tier.METADATA, Severity.LOW, f"Conventions = {conv!r}"
        )
        return True
    checks.add(
        "netcdf.cf_conventions",
        Tier.METADATA,
        Severity.LOW,
        Outcome.ABSENT,
        f"Conventions = {conv!r} does not name CF" if conv else "no Conventions global attribute",
    )
    return False


def _absent_fraction(
    checks: Checks, check_id: str, tier: Tier, have: int, total: int, what: str, missing: list[str]
) -> None:
    """Optional metadata: each missing item earns the half credit of an absent thing."""
    if total == 0:
        checks.na(check_id, tier, Severity.LOW, f"no {what} to check")
        return
    extra = f"; missing: {', '.join(missing[:8])}" if missing else ""
    checks.add(
        check_id,
        tier,
        Severity.LOW,
        Outcome.PASS if have == total else Outcome.ABSENT,
        f"{have}/{total} {what}{extra}",
        credit=(have + 0.5 * (total - have)) / total,
    )


def _units(ds: Any, checks: Checks) -> None:
    dims = set(ds.dimensions)
    data_vars = [v for n, v in ds.variables.items() if n not in dims and v.dtype.kind in "iufc"]
    missing = [v.name for v in data_vars if "units" not in v.ncattrs()]
    _absent_fraction(
        checks,
        "netcdf.units",
        Tier.METADATA,
        len(data_vars) - len(missing),
        len(data_vars),
        "numeric data variables with units",
        missing,
    )


def _monotonic(ds: Any, checks: Checks) -> None:
    """CF 1.x section 5: coordinate variables are strictly monotonic."""
    import numpy as np

    dims = set(ds.dimensions)
    coords = [ds.variables[d] for d in dims if d in ds.variables]
    bad = []
    for var in coords:
        if var.ndim != 1 or var.size < 2 or var.size > 10_000_000 or var.dtype.kind not in "iuf":
            continue
        values = np.asarray(var[:], dtype="f8")
        diffs = np.diff(values)
        if not (np.all(diffs > 0) or np.all(diffs < 0)):
            bad.append(var.name)
    if coords:
        checks.fraction(
            "netcdf.monotonic_coordinates",
            Tier.CONFORMANCE,
            Severity.LOW,
            len(coords) - len(bad),
            len(coords),
            "coordinate variables strictly monotonic",
            missing=bad,
        )


def _globals(ds: Any, checks: Checks) -> None:
    attrs = set(ds.ncattrs())
    wanted = [a for a in ACDD if a != "institution"]
    present = [a for a in wanted if a in attrs]
    creator = any(a in attrs for a in CREATOR_ANY)
    missing = [a for a in wanted if a not in attrs] + ([] if creator else ["institution/creator"])
    _absent_fraction(
        checks,
        "netcdf.global_attributes",
        Tier.METADATA,
        len(present) + int(creator),
        len(wanted) + 1,
        "CF/ACDD global attributes",
        missing,
    )


def _plausibility(ds: Any, checks: Checks, ctx: ScoreContext) -> None:
    """One check over all numeric data variables: the share whose sampled values are not all
    fill/NaN and lie inside valid_min/valid_max (values outside are "missing" under CF, so a
    file full of them is suspect, never corrupt)."""
    import numpy as np

    dims = set(ds.dimensions)
    looked, suspect = 0, []
    for name, var in ds.variables.items():
        if name in dims or var.size == 0 or ctx.time_left < 0:
            continue
        if not np.issubdtype(var.dtype, np.number):
            continue
        if var.ndim:
            per_row = max(1, var.size // max(1, var.shape[0]))
            if per_row <= SAMPLE_VALUES:
                sample = var[: min(var.shape[0], max(1, SAMPLE_VALUES // per_row))]
            else:  # one row is already too big: a bounded run along the last axis
                index = (0,) * (var.ndim - 1) + (slice(0, min(var.shape[-1], SAMPLE_VALUES)),)
                sample = var[index]
        else:
            sample = var[...]
        data = np.ma.masked_invalid(np.ma.asarray(sample).astype("f8")).compressed()
        looked += 1
        vmin, vmax = _scalar(var, "valid_min"), _scalar(var, "valid_max")
        if "valid_range" in var.ncattrs():
            lo_hi = np.ravel(np.asarray(var.getncattr("valid_range"), dtype="f8"))
            if lo_hi.size == 2:
                vmin, vmax = float(lo_hi[0]), float(lo_hi[1])
        outside = 0
        if vmin is not None:
            outside += int((data < vmin).sum())
        if vmax is not None:
            outside += int((data > vmax).sum())
        if not data.size:
            suspect.append(f"{name} (all fill/NaN)")
        elif outside > data.size // 100:
            suspect.append(f"{name} ({outside} of {data.size} outside valid range)")
    if looked:
        checks.fraction(
            "netcdf.valid_values",
            Tier.PLAUSIBILITY,
            Severity.LOW,
            looked - len(suspect),
            looked,
            "numeric variables with valid sampled values",
            missing=suspect,
        )


def _scalar(var: Any, name: str) -> float | None:
    import numpy as np

    if name not in var.ncattrs():
        return None
    value = np.ravel(np.asarray(var.getncattr(name), dtype="f8"))
    return float(value[0]) if value.size else None


def _undecodable(ds: Any) -> str | None:
    """Why this library cannot decode a dataset's values (a missing filter plugin or a
    datatype with no NumPy equivalent): a limit of the checker, not of the file."""
    import h5py

    try:
        ds.dtype  # noqa: B018 - raises for datatypes NumPy cannot represent
    except (TypeError, ValueError) as exc:
        return f"datatype not representable here ({exc})"
    plist = ds.id.get_create_plist()
    for i in range(plist.get_nfilters()):
        code, _flags, _values, name = plist.get_filter(i)
        if not h5py.h5z.filter_avail(code):
            return f"filter {name.decode(errors='replace') or '?'} ({code}) not available here"
    return None


def _regions(ds: Any, deadline: float, ctx: ScoreContext) -> Iterable[Any]:
    """Where to read: every chunk of a filtered (compressed or checksummed) dataset while
    time allows (a filter fails loudly on damaged bytes), else its first and last element."""
    if ds.size == 0:
        return
    if ds.ndim == 0:
        yield ()
        return
    yield tuple(0 for _ in ds.shape)
    yield tuple(n - 1 for n in ds.shape)
    if ds.chunks is None or ds.id.get_create_plist().get_nfilters() == 0:
        return
    for region in ds.iter_chunks():
        if ctx.time_left < deadline:
            raise TimeoutError
        yield region


def _hdf5_data(ctx: ScoreContext, checks: Checks, fh: Any = None) -> None:
    """The HDF5 data pass (also run on netCDF-4 files): readable data, Fletcher32 fixity,
    and the datasets this library cannot decode."""
    import h5py

    own = fh is None
    if own:
        fh = h5py.File(ctx.path, "r", locking=False)
    try:
        datasets: list[Any] = []
        fh.visititems(
            lambda _n, obj: datasets.append(obj) if isinstance(obj, h5py.Dataset) else None
        )
        deadline = ctx.budget_seconds * RESERVE
        bad: list[str] = []
        bad_sums: list[str] = []
        skipped: list[str] = []
        checksummed = unverified = 0
        for ds in datasets:
            why = _undecodable(ds)
            if why is not None:
                skipped.append(f"{ds.name}: {why}")
                continue
            checksummed += bool(ds.fletcher32)
            try:
                for region in _regions(ds, deadline, ctx):
                    ds[region]
            except TimeoutError:
                unverified += bool(ds.fletcher32)
            except Exception as exc:  # the library's verdict on the stored bytes
                bad.append(f"{ds.name} ({type(exc).__name__}: {exc})"[:200])
                if ds.fletcher32:
                    bad_sums.append(bad[-1])
        checks.check(
            "hdf5.data_readable",
            Tier.CONTAINER,
            Severity.HIGH,
            not bad,
            f"data of {len(datasets) - len(skipped)} datasets readable (every chunk of "
            "compressed/checksummed ones within the time budget)",
            f"cannot read {'; '.join(bad[:4])}",
            f"dataset {bad[0].split(' ', 1)[0]}" if bad else None,
        )
        if skipped:
            checks.add(
                "hdf5.decodable",
                Tier.CONFORMANCE,
                Severity.LOW,
                Outcome.ERROR,
                f"{len(skipped)} dataset(s) not decoded by this checker: {'; '.join(skipped[:3])}",
            )
        if bad_sums:
            checks.failed(
                "hdf5.fletcher32",
                Tier.FIXITY,
                Severity.MEDIUM,
                f"Fletcher32-protected data unreadable (checksum mismatch): {bad_sums[0]}",
            )
        elif checksummed and unverified:
            checks.add(
                "hdf5.fletcher32",
                Tier.FIXITY,
                Severity.MEDIUM,
                Outcome.ABSENT,
                f"{checksummed - unverified} of {checksummed} Fletcher32 datasets verified in "
                "full within the time budget",
            )
        elif checksummed:
            checks.passed(
                "hdf5.fletcher32",
                Tier.FIXITY,
                Severity.MEDIUM,
                f"every chunk of {checksummed} Fletcher32 datasets verified",
            )
        else:
            checks.add(
                "hdf5.fletcher32",
                Tier.FIXITY,
                Severity.LOW,
                Outcome.ABSENT,
                "no dataset uses the Fletcher32 checksum filter",
            )
    finally:
        if own:
            fh.close()


def _walk(fh: Any) -> tuple[int, list[str]]:
    """Every object header and attribute the file holds, decoded by the library (damaged
    metadata raises here). Returns the object count and the attributes whose datatype this
    library cannot represent (a checker limit)."""
    objects = [fh]
    fh.visit(lambda name: objects.append(fh[name]))
    odd: list[str] = []
    for obj in objects:
        for key in obj.attrs:
            try:
                obj.attrs.get_id(key).dtype  # noqa: B018 - raises for types NumPy lacks
            except (TypeError, ValueError) as exc:
                odd.append(f"{obj.name}@{key} ({exc})")
                continue
            obj.attrs[key]
    return len(objects), odd


def score_hdf5(ctx: ScoreContext) -> Checks:
    import h5py

    checks = Checks("h5py", f"{h5py.__version__} (HDF5 {h5py.version.hdf5_version})")
    head = ctx.head(8192)
    offset = hdf5_signature_at(head)
    checks.check(
        "hdf5.signature",
        Tier.CONTAINER,
        Severity.HIGH,
        offset is not None,
        f"HDF5 signature at byte {offset}",
        "no HDF5 signature (\\x89HDF\\r\\n\\x1a\\n)",
    )
    if offset is None:
        return checks
    hdf5_extent(ctx, checks, offset)
    try:
        fh = h5py.File(ctx.path, "r", locking=False)
    except OSError as exc:  # the HDF5 library's verdict on the bytes
        checks.failed(
            "hdf5.readable", Tier.CONTAINER, Severity.HIGH, f"HDF5 library cannot open: {exc}"
        )
        return checks
    with fh:
        try:
            objects, odd = _walk(fh)
        except Exception as exc:  # raised by the library decoding the file's metadata
            checks.failed(
                "hdf5.readable",
                Tier.CONTAINER,
                Severity.HIGH,
                f"HDF5 library cannot read the object tree: {type(exc).__name__}: {exc}"[:600],
            )
            return checks
        if odd:
            checks.add(
                "hdf5.attributes_decodable",
                Tier.CONFORMANCE,
                Severity.LOW,
                Outcome.ERROR,
                f"{len(odd)} attribute(s) not decoded by this checker: {'; '.join(odd[:3])}",
            )
        checks.passed(
            "hdf5.readable",
            Tier.CONTAINER,
            Severity.HIGH,
            f"{objects} objects and their attributes readable",
        )
        with checks.run("hdf5.data_readable", Tier.CONTAINER, Severity.HIGH):
            _hdf5_data(ctx, checks, fh)
        if len(fh.attrs):
            checks.passed(
                "hdf5.attributes", Tier.METADATA, Severity.LOW, f"{len(fh.attrs)} root attributes"
            )
        else:
            checks.add(
                "hdf5.attributes",
                Tier.METADATA,
                Severity.LOW,
                Outcome.ABSENT,
                "no root attributes (undocumented file)",
            )
    return checks
