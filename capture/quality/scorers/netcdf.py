"""netCDF (classic and 4) and HDF5: signatures and readability (gates), classic-header size
proof, CF conformance, CF/ACDD global attributes, sampled fill/NaN and valid-range checks."""

from __future__ import annotations

import struct

import numpy as np

from capture.netcdf_meta import NetCDFProblem, classic_minimum_size
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


def hdf5_signature_at(head: bytes) -> int | None:
    """HDF5 superblocks may sit at 0, 512, 1024, 2048... (user block)."""
    for offset in (0, 512, 1024, 2048, 4096):
        if head[offset : offset + 8] == HDF5_SIGNATURE:
            return offset
    return None


def score_netcdf(ctx: ScoreContext) -> Checks:
    import netCDF4

    checks = Checks(
        "netCDF4-python", f"{netCDF4.__version__} (netCDF-C {netCDF4.__netcdf4libversion__})"
    )
    head = ctx.head(8192)
    classic = head[:3] == b"CDF" and head[3:4] in (b"\x01", b"\x02", b"\x05")
    hdf5 = hdf5_signature_at(head) is not None
    checks.check(
        "netcdf.signature",
        Tier.CONTAINER,
        Severity.HIGH,
        classic or hdf5,
        "netCDF classic" if classic else "netCDF-4/HDF5 signature",
        "neither a netCDF classic magic (CDF\\x01/\\x02/\\x05) nor an HDF5 signature",
    )
    if not (classic or hdf5):
        return checks
    if classic:
        with checks.run("netcdf.classic_size", Tier.CONTAINER, Severity.HIGH):
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
            else:
                if needed is None:
                    checks.na(
                        "netcdf.classic_size",
                        Tier.CONTAINER,
                        Severity.HIGH,
                        "record count not recorded (streaming file)",
                    )
                else:
                    checks.check(
                        "netcdf.classic_size",
                        Tier.CONTAINER,
                        Severity.HIGH,
                        (ctx.size or 0) >= needed,
                        f"header accounts for {needed} bytes; file complete",
                        f"header needs {needed} bytes but the file has {ctx.size}: cut in the "
                        "middle",
                    )
    with checks.run("netcdf.readable", Tier.CONTAINER, Severity.HIGH):
        ds = netCDF4.Dataset(ctx.path, "r")
        try:
            checks.passed(
                "netcdf.readable",
                Tier.CONTAINER,
                Severity.HIGH,
                f"{ds.data_model}: {len(ds.dimensions)} dimensions, {len(ds.variables)} variables",
            )
            _data_readable(ds, checks)
            _cf(ds, checks)
            _globals(ds, checks)
            _plausibility(ds, checks, ctx)
        finally:
            ds.close()
    return checks


def _data_readable(ds: object, checks: Checks) -> None:
    bad: list[str] = []
    for name, var in ds.variables.items():  # type: ignore[attr-defined]
        if var.size == 0:
            continue
        try:
            first = tuple(0 for _ in var.shape)
            last = tuple(max(0, n - 1) for n in var.shape)
            var[first]
            var[last]
        except Exception as exc:
            bad.append(f"{name} ({type(exc).__name__})")
    total = len(ds.variables)  # type: ignore[attr-defined]
    if bad:
        checks.failed(
            "netcdf.data_readable",
            Tier.CONTAINER,
            Severity.HIGH,
            f"cannot read data of {', '.join(bad[:5])}",
            f"variable {bad[0]}",
        )
    else:
        checks.passed(
            "netcdf.data_readable",
            Tier.CONTAINER,
            Severity.HIGH,
            f"first and last values of all {total} variables readable",
        )


def _cf(ds: object, checks: Checks) -> None:
    conv = str(getattr(ds, "Conventions", "") or "")
    if conv:
        checks.check(
            "netcdf.cf_conventions",
            Tier.CONFORMANCE,
            Severity.MEDIUM,
            "CF" in conv,
            f"Conventions = {conv!r}",
            f"Conventions = {conv!r} does not name CF",
        )
    else:
        checks.failed(
            "netcdf.cf_conventions",
            Tier.CONFORMANCE,
            Severity.MEDIUM,
            "no Conventions global attribute",
        )
    dims = set(ds.dimensions)  # type: ignore[attr-defined]
    data_vars = [v for n, v in ds.variables.items() if n not in dims]  # type: ignore[attr-defined]
    with_units = [v.name for v in data_vars if "units" in v.ncattrs()]
    missing = [v.name for v in data_vars if "units" not in v.ncattrs()]
    checks.fraction(
        "netcdf.units",
        Tier.CONFORMANCE,
        Severity.MEDIUM,
        len(with_units),
        len(data_vars),
        "data variables with units",
        missing=missing,
    )
    coords = [ds.variables[d] for d in dims if d in ds.variables]  # type: ignore[attr-defined]
    bad = []
    for var in coords:
        if var.ndim != 1 or var.size < 2 or var.size > 10_000_000:
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


def _globals(ds: object, checks: Checks) -> None:
    attrs = set(ds.ncattrs())  # type: ignore[attr-defined]
    wanted = [a for a in ACDD if a != "institution"]
    present = [a for a in wanted if a in attrs]
    creator = any(a in attrs for a in CREATOR_ANY)
    missing = [a for a in wanted if a not in attrs] + ([] if creator else ["institution/creator"])
    checks.fraction(
        "netcdf.global_attributes",
        Tier.METADATA,
        Severity.MEDIUM,
        len(present) + int(creator),
        len(wanted) + 1,
        "CF/ACDD global attributes",
        missing=missing,
    )


def _plausibility(ds: object, checks: Checks, ctx: ScoreContext) -> None:
    dims = set(ds.dimensions)  # type: ignore[attr-defined]
    for name, var in ds.variables.items():  # type: ignore[attr-defined]
        if name in dims or var.size == 0 or ctx.time_left < 0:
            continue
        if not np.issubdtype(var.dtype, np.number):
            continue
        with checks.run("netcdf.valid_values", Tier.PLAUSIBILITY, Severity.LOW, f"variable {name}"):
            if var.ndim:
                per_row = max(1, var.size // max(1, var.shape[0]))
                sample = var[: min(var.shape[0], max(1, SAMPLE_VALUES // per_row))]
            else:
                sample = var[...]
            arr = np.ma.asarray(sample)
            total = arr.size
            valid = np.ma.masked_invalid(arr.astype("f8")).count() if total else 0
            frac = valid / total if total else 1.0
            vmin, vmax = _scalar(var, "valid_min"), _scalar(var, "valid_max")
            if "valid_range" in var.ncattrs():
                lo_hi = np.ravel(np.asarray(var.getncattr("valid_range"), dtype="f8"))
                if lo_hi.size == 2:
                    vmin, vmax = float(lo_hi[0]), float(lo_hi[1])
            out_of_range = 0
            if vmin is not None or vmax is not None:
                data = np.ma.masked_invalid(arr.astype("f8")).compressed()
                if vmin is not None:
                    out_of_range += int((data < float(vmin)).sum())
                if vmax is not None:
                    out_of_range += int((data > float(vmax)).sum())
            msg = f"{frac:.1%} of sampled values valid (not fill/NaN)"
            if out_of_range:
                msg += f", {out_of_range} outside valid_min/valid_max"
                frac = max(0.0, frac - out_of_range / max(1, total))
            checks.add(
                "netcdf.valid_values",
                Tier.PLAUSIBILITY,
                Severity.LOW,
                Outcome.PASS if frac >= 0.99 else Outcome.FAIL,
                msg,
                f"variable {name}",
                credit=frac,
            )


def _scalar(var: object, name: str) -> float | None:
    if name not in var.ncattrs():  # type: ignore[attr-defined]
        return None
    value = np.ravel(np.asarray(var.getncattr(name), dtype="f8"))  # type: ignore[attr-defined]
    return float(value[0]) if value.size else None


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
    with checks.run("hdf5.readable", Tier.CONTAINER, Severity.HIGH), h5py.File(ctx.path, "r") as fh:
        names: list[str] = []
        fh.visit(names.append)
        datasets = [fh[n] for n in names if isinstance(fh[n], h5py.Dataset)]
        checks.passed(
            "hdf5.readable",
            Tier.CONTAINER,
            Severity.HIGH,
            f"{len(names)} objects, {len(datasets)} datasets",
        )
        bad = []
        for ds in datasets:
            if ctx.time_left < 0:
                break
            try:
                if ds.size:
                    ds[(0,) * ds.ndim] if ds.ndim else ds[()]
                    ds[tuple(n - 1 for n in ds.shape)] if ds.ndim else None
            except Exception as exc:  # Fletcher32 or truncated chunks fail here
                bad.append(f"{ds.name} ({type(exc).__name__})")
        checks.check(
            "hdf5.data_readable",
            Tier.CONTAINER,
            Severity.HIGH,
            not bad,
            f"first and last elements of {len(datasets)} datasets readable",
            f"cannot read {', '.join(bad[:5])}",
        )
        fletcher = [d.name for d in datasets if d.fletcher32]
        if fletcher:
            checks.check(
                "hdf5.fletcher32",
                Tier.FIXITY,
                Severity.MEDIUM,
                not bad,
                f"{len(fletcher)} datasets carry Fletcher32 checksums, sampled reads ok",
                "Fletcher32 checksum errors",
            )
        else:
            checks.add(
                "hdf5.fletcher32",
                Tier.FIXITY,
                Severity.LOW,
                Outcome.ABSENT,
                "no dataset uses the Fletcher32 checksum filter",
            )
        checks.check(
            "hdf5.attributes",
            Tier.METADATA,
            Severity.LOW,
            len(fh.attrs) > 0,
            f"{len(fh.attrs)} root attributes",
            "no root attributes (undocumented file)",
        )
    return checks
