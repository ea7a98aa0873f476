"""Archive emulators: real HTTP servers on 127.0.0.1 that speak each archive's protocol.

In the spirit of Scrapy's own ``tests/mockserver``: deterministic content (so resumed bytes can
be checked), Range/HEAD/ETag/conditional requests, configurable latency and bandwidth, and
fault injection (see :mod:`tests.archives.server`). One module per archive protocol.
"""

from tests.archives.content import Blob
from tests.archives.server import ArchiveServer, Fault

__all__ = ["ArchiveServer", "Blob", "Fault"]
