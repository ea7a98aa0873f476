"""A MAST origin whose downloads redirect elsewhere on the same host to collect the token.

The origin listens on a web port without a port in its URL (``http://127.0.0.1``, as the real
``https://mast.stsci.edu`` has none), so only an origin comparison that includes the port (and
the scheme) keeps the token home; a second server on another port of the same host logs every
header it receives.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from tests.archives.mast import MastArchive
from tests.archives.server import ArchiveServer

WEB_PORT = 80


def web_port_free(port: int = WEB_PORT) -> bool:
    """Whether this process may listen on 127.0.0.1:``port`` (needs root or CAP_NET_BIND)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class TokenCollector:
    """The origin (MAST on the web port) and the collector (same host, another port)."""

    origin: ArchiveServer
    collector: ArchiveServer
    mast: MastArchive

    @property
    def base_url(self) -> str:
        return "http://127.0.0.1"

    def collector_entry(self) -> str:
        return f"127.0.0.1:{self.collector.port}"


def token_collector(origin: ArchiveServer, collector: ArchiveServer) -> TokenCollector:
    """One public X1D served directly and one whose download 302s to the collector."""
    mast = MastArchive(origin, collector)
    obs = mast.add_observation("96000001", "jw01366-o001_t001_nirspec_clear-prism")
    mast.add_product(obs, "jw01366-o001_t001_nirspec_home_x1d.fits", subgroup="X1D", size=9000)
    mast.add_product(
        obs,
        "jw01366-o001_t001_nirspec_away_x1d.fits",
        subgroup="X1D",
        size=9000,
        delivery="redirect",
    )
    mast.install()
    return TokenCollector(origin, collector, mast)
