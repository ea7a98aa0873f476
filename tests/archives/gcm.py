"""Shared pieces of the GCM-output emulators (ROCKE-3D, ExoCubed): real netCDF files made with
the netCDF4 package at test time, and directory trees with server-side symlinks.

No real ROCKE-3D or ExoCubed listing or output file was captured (``shared/samples/rocke3d/
SOURCE.md``), so the corpora are synthetic but in the real formats: netCDF-4 (HDF5) and netCDF-3
classic files with CF global attributes, coordinate and data variables with units.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np

from tests.archives.autoindex import DirectoryTree
from tests.archives.content import Blob
from tests.archives.server import ArchiveServer, Reply, Request


@dataclass
class Var:
    dims: tuple[str, ...]
    attrs: dict[str, Any] = field(default_factory=dict)
    dtype: str = "f4"


def netcdf_bytes(
    fmt: str,
    dims: Mapping[str, int | None],
    variables: Mapping[str, Var],
    global_attrs: Mapping[str, Any],
    seed: int = 0,
) -> bytes:
    """A complete netCDF file (``fmt`` as netCDF4.Dataset takes it); ``None`` dims are
    unlimited and get 3 records."""
    import netCDF4

    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.nc"
        ds = netCDF4.Dataset(path, "w", format=fmt)
        try:
            for name, size in dims.items():
                ds.createDimension(name, size)
            ds.setncatts(dict(global_attrs))
            for name, var in variables.items():
                v = ds.createVariable(name, var.dtype, var.dims)
                v.setncatts(var.attrs)
                shape = tuple(dims[d] or 3 for d in var.dims)
                v[:] = rng.random(shape).astype(var.dtype)
        finally:
            ds.close()
        return path.read_bytes()


def truncated(data: bytes, keep: float = 0.6) -> bytes:
    return data[: int(len(data) * keep)]


@dataclass
class LinkedDirectoryTree(DirectoryTree):
    """A :class:`DirectoryTree` with server-side directory symlinks: ``symlinks["a/b/loop/"] =
    "a/"`` makes ``a/b/loop/`` (and ``a/b/loop/b/loop/...``) serve ``a/``, and lists ``loop/``
    in ``a/b/`` as a directory, like Apache/nginx with FollowSymLinks."""

    symlinks: dict[str, str] = field(default_factory=dict)

    def link(self, link: str, target: str) -> None:
        link, target = link.strip("/") + "/", target.strip("/") + "/"
        self.symlinks[link] = target
        parent, _, name = link.rstrip("/").rpartition("/")
        self.extra_links.setdefault(f"{parent}/" if parent else "", []).append(f"{name}/")

    def resolve(self, rel: str) -> str:
        for _ in range(100):
            for link, target in self.symlinks.items():
                if rel.startswith(link):
                    rel = target + rel[len(link) :]
                    break
            else:
                return rel
        raise RuntimeError("symlink resolution does not end")

    def _handle(self, req: Request) -> Blob | Reply:
        rel = unquote(req.path[len(self.mount) :])
        if rel + "/" in self.symlinks:
            return Reply(b"", 301, {"Location": req.path + "/"}, "text/html")
        resolved = self.resolve(rel)
        if resolved == rel:
            return super()._handle(req)
        return super()._handle(dataclasses.replace(req, path=self.mount + quote(resolved)))


def cf_attributes(title: str, source: str, institution: str) -> dict[str, str]:
    return {
        "Conventions": "CF-1.6",
        "title": title,
        "institution": institution,
        "source": source,
        "history": "created by the capture test emulator",
    }


def grid_variables(names: Sequence[tuple[str, tuple[str, ...], str, str]]) -> dict[str, Var]:
    """(name, dims, units, long_name) rows -> variables."""
    return {n: Var(d, {"units": u, "long_name": ln}) for n, d, u, ln in names}


@dataclass
class GcmArchive:
    """A GCM output tree on one host: files, server-side symlinks, one listing style."""

    server: ArchiveServer
    mount: str = field(init=False, default="/")
    style: str = field(init=False, default="nginx")
    tree: LinkedDirectoryTree = field(init=False)

    def __post_init__(self) -> None:
        self.tree = LinkedDirectoryTree(self.server, mount=self.mount, style=self.style)

    def add(self, path: str, data: bytes | Blob) -> Blob:
        blob = data if isinstance(data, Blob) else Blob.of(data)
        self.tree.add(path, blob)
        return blob

    def link(self, link: str, target: str) -> None:
        self.tree.link(link, target)

    @property
    def base_url(self) -> str:
        return self.server.base_url
