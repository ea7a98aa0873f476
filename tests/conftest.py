from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.archives import ArchiveServer
from tests.archives.thousand_genomes import ThousandGenomesArchive


@pytest.fixture
def server() -> Iterator[ArchiveServer]:
    with ArchiveServer() as srv:
        yield srv


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    return d


@pytest.fixture
def tg(server: ArchiveServer) -> ThousandGenomesArchive:
    return ThousandGenomesArchive(server)
