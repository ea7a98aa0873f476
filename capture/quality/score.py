"""Score one file: transport checks for everyone, then its format's scorer."""

from __future__ import annotations

import importlib
import json
import os
import pickle
import signal
import struct
import sys
import time
import traceback
from dataclasses import replace
from typing import Any

from capture.quality.model import Outcome, QualityReport, Severity, Tier
from capture.quality.registry import compressed_wrapper, resolve
from capture.quality.scorers.base import Checks, ScoreContext
from capture.quality.scorers.transport import transport_checks
from capture.settings import CAPTURE_NASA_GRADE_THRESHOLD as NASA_GRADE_THRESHOLD
from capture.settings import CAPTURE_QUALITY_THRESHOLD as QUALITY_THRESHOLD


def score_file(
    ctx: ScoreContext,
    quality_threshold: float = QUALITY_THRESHOLD,
    nasa_threshold: float = NASA_GRADE_THRESHOLD,
) -> QualityReport:
    """Never raises: a scorer that crashes yields an ``error`` check (and so a quarantine)."""
    if not ctx.path:  # bytes not available locally (S3 object above the scratch limit)
        report = QualityReport(
            scorer="transport-only",
            quality_threshold=quality_threshold,
            nasa_threshold=nasa_threshold,
        )
        report.unexamined = "content not fetched back from the store"
        base = Checks()
        transport_checks(ctx, base)
        base.na(
            "content.scorer",
            Tier.CONFORMANCE,
            Severity.LOW,
            "content not fetched back from the store (larger than CAPTURE_S3_SCRATCH_MAX): "
            "score from transport checks only",
        )
        report.checks.extend(base.results)
        return report
    fmt, _scorer = resolve(ctx)
    kind = compressed_wrapper(ctx, fmt)
    report = QualityReport(
        scorer=(f"{kind}+" if kind else "") + (fmt or "transport-only"),
        quality_threshold=quality_threshold,
        nasa_threshold=nasa_threshold,
    )
    base = Checks()
    try:
        transport_checks(ctx, base)
    except Exception as exc:
        base.add(
            "transport.checks",
            Tier.TRANSPORT,
            Severity.HIGH,
            Outcome.ERROR,
            f"{type(exc).__name__}: {exc}",
        )
    report.checks.extend(base.results)
    if kind is not None:
        score_wrapped(ctx, kind, report)
    else:
        content_checks(ctx, report)
    return report


def content_checks(ctx: ScoreContext, report: QualityReport, location: str | None = None) -> None:
    """Run the content scorer of ``ctx``'s format into ``report``; say when nobody looked."""
    fmt, scorer = resolve(ctx)
    if scorer is None:
        report.unexamined = f"no content scorer for format {fmt or ctx.format or 'unknown'!r}"
        report.checks.append(
            Checks().na(
                "content.scorer",
                Tier.CONFORMANCE,
                Severity.LOW,
                f"{report.unexamined}: score from transport checks only",
            )
        )
        return
    try:
        results = scorer(ctx).results
    except Exception as exc:
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        report.unexamined = f"the {fmt} scorer failed"
        report.checks.append(
            Checks().add(
                f"{fmt}.scorer",
                Tier.CONFORMANCE,
                Severity.HIGH,
                Outcome.ERROR,
                f"scorer crashed: {tb}"[:600],
                location,
            )
        )
        return
    for r in results:
        if location and not r.location:
            r.location = location
    report.checks.extend(results)
    if not any(r.applicable and r.tier != Tier.TRANSPORT for r in results):
        report.unexamined = f"the {fmt} scorer could not examine the content"


def score_wrapped(ctx: ScoreContext, kind: str, report: QualityReport) -> None:
    """A compressed file: the wrapper's integrity, then its content as what it really is."""
    from capture.quality.scorers.container import decompress, inner_name, remove
    from capture.quality.scorers.text import gzip_checks

    checks = Checks(kind)
    if kind == "gzip":
        gzip_checks(ctx, checks)
    path: str | None = None
    try:
        with checks.run(f"{kind}.decompress", Tier.CONTAINER, Severity.HIGH):
            path, not_examined = decompress(ctx, kind)
            if not_examined is None:
                checks.passed(
                    f"{kind}.decompress", Tier.CONTAINER, Severity.HIGH, "decompressed completely"
                )
        report.checks.extend(checks.results)
        if path is None or any(c.is_gate_failure for c in checks.results):
            report.unexamined = f"the {kind} stream could not be decompressed"
            return
        if not_examined is not None:
            report.unexamined = not_examined
            return
        name = inner_name(ctx.name, kind)
        inner_format = (ctx.format or "").removesuffix(".gz") or None
        inner = replace(
            ctx,
            path=path,
            name=name,
            format=inner_format if inner_format not in (None, "gzip") else None,
            size=os.path.getsize(path),
            expected_size=None,
            digest_algorithm=None,
            digest_verified=None,
            length_verified=None,
            budget_seconds=max(1.0, ctx.time_left),
        )
        inner_checks = Checks()
        from capture.quality.scorers.transport import content_gates

        content_gates(inner, inner_checks, name)
        for r in inner_checks.results:
            r.location = r.location or f"inside {kind}"
        report.checks.extend(inner_checks.results)
        content_checks(inner, report, location=f"inside {kind}")
        report.scorer = f"{kind}+{resolve(inner)[0] or 'transport-only'}"
    finally:
        if path is not None:
            remove(path)


#: What a worker imports for a format before its time budget starts: the heavy readers are
#: imported per format, on a file's first need, so a worker holds only what its files use.
READERS: dict[str, tuple[str, ...]] = {
    "fits": ("numpy", "astropy.io.fits"),
    "netcdf": ("numpy", "netCDF4", "h5py"),
    "hdf5": ("numpy", "h5py"),
    "votable": ("astropy.io.votable",),
    "ipac": ("astropy.table",),
}
#: Reader families by the top-level modules that show one is loaded. A worker holds one
#: family (astropy ~22 MB, netCDF-C/HDF5 ~26 MB): a file of another family goes to a fresh
#: worker, so a worker scoring a big file carries only its own readers.
FAMILIES: dict[str, tuple[str, ...]] = {"astropy": ("astropy",), "hdf5": ("netCDF4", "h5py")}
FAMILY_OF = {
    "fits": "astropy",
    "votable": "astropy",
    "ipac": "astropy",
    "netcdf": "hdf5",
    "hdf5": "hdf5",
}


def score_file_dict(
    ctx_data: dict[str, Any], quality_threshold: float, nasa_threshold: float
) -> dict[str, Any]:
    """Worker-process entry point: plain dicts in and out (picklable, version-proof). The
    format's readers are imported first, so no file's time budget pays for them.

    Replies ``{"restart": True}`` without scoring when the file needs readers of another
    family than the ones this process holds, and adds ``"retire": True`` when scoring left
    two families loaded (a compressed file's content): the runner then uses a fresh worker."""
    ctx = ScoreContext(**ctx_data)
    if ctx.path:
        try:
            fmt = resolve(ctx)[0] or ""
        except Exception:  # unreadable: the scorer says so
            fmt = ""
        family = FAMILY_OF.get(fmt)
        if family is not None and loaded_families() - {family}:
            return {"restart": True}
        try:
            for module in READERS.get(fmt, ()):
                importlib.import_module(module)
        except Exception:  # a missing optional reader: its scorer says so
            pass
        ctx.started = time.monotonic()
    reply = score_file(ctx, quality_threshold, nasa_threshold).to_dict()
    if len(loaded_families()) > 1:
        reply["retire"] = True
    return reply


def loaded_families() -> set[str]:
    return {f for f, modules in FAMILIES.items() if any(m in sys.modules for m in modules)}


#: Largest request or reply accepted on a worker's pipes (a report is a few KB).
MESSAGE_MAX = 64 * 1024 * 1024
_HEADER = struct.Struct("!Q")


def serve(memory_limit: int = 0) -> None:
    """A scorer worker process (started by :class:`capture.quality.runner.QualityRunner`):
    length-prefixed pickled requests on stdin, JSON reports on the original stdout, until
    stdin closes. Anything a C library prints to stdout goes to stderr instead, so it cannot
    corrupt a reply; the parent owns the process's life, so Ctrl-C is left to it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if memory_limit > 0:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    replies = os.dup(1)
    os.dup2(2, 1)
    while True:
        header = _read_exactly(0, _HEADER.size)
        if header is None:
            return  # the parent closed the pipe: idle, closing, or gone
        (size,) = _HEADER.unpack(header)
        body = _read_exactly(0, size) if size <= MESSAGE_MAX else None
        if body is None:
            return
        try:
            request = pickle.loads(body)
            reply = score_file_dict(request["ctx"], request["quality"], request["nasa"])
        except Exception as exc:  # e.g. MemoryError under the address-space cap
            reply = {"error": f"{type(exc).__name__}: {exc}"[:600]}
        data = json.dumps(reply).encode()
        try:
            _write_all(replies, _HEADER.pack(len(data)) + data)
        except BrokenPipeError:
            return  # the parent is gone (killed mid-file)


def _read_exactly(fd: int, size: int) -> bytes | None:
    """``size`` bytes from ``fd``; None at end of file."""
    buf = bytearray()
    while len(buf) < size:
        chunk = os.read(fd, size - len(buf))
        if not chunk:
            return None
        buf += chunk
    return bytes(buf)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
