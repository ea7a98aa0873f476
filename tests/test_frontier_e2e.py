"""Two crawler processes share one archive through the Redis frontier and a PostgreSQL
catalog: no file is captured twice, none is missed, also when one worker is killed."""

from __future__ import annotations

import hashlib
import signal
import uuid
from pathlib import Path

import pytest

from tests.archives import Blob
from tests.archives.thousand_genomes import WHOLE_TREE, ThousandGenomesArchive
from tests.crawl import kill, read_jsonl, start_crawl, wait_for
from tests.services import postgres_database, redis_url

MB = 1024 * 1024
pytestmark = pytest.mark.slow


def settings(catalog: str, run_id: str) -> dict[str, str]:
    return {
        "CAPTURE_CATALOG_URL": catalog,
        "CAPTURE_FRONTIER_URL": redis_url(),
        "CAPTURE_RUN_ID": run_id,
        "CAPTURE_FRONTIER_CLAIM_IDLE": "3",
        "CAPTURE_FRONTIER_IDLE_EXIT": "2",
        "CONCURRENT_REQUESTS_PER_DOMAIN": "2",
    }


def catalog_states(url: str) -> list[tuple[str, str, str]]:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("select archive_path, state, sha256 from files")).all()
    except Exception:  # the workers have not created the schema yet
        return []
    finally:
        engine.dispose()
    return [tuple(r) for r in rows]


@pytest.mark.parametrize("kill_one", [False, True], ids=["both-finish", "one-killed"])
def test_two_workers_share_one_frontier(
    tg: ThousandGenomesArchive, tmp_path: Path, kill_one: bool
) -> None:
    blobs = {f"ftp/f/file{i:02d}.bin": Blob(f"fr{i}", 2 * MB) for i in range(24)}
    for path, blob in blobs.items():
        tg.add_file(path, blob)
    base = tg.publish()
    tg.server.bandwidth = 12 * MB  # per connection: slow enough to overlap and to kill
    data = tmp_path / "data"  # one shared data root, as on a shared filesystem
    with postgres_database() as catalog:
        run_id = f"frontier_{uuid.uuid4().hex[:8]}"
        conf = settings(catalog, run_id)
        a, out_a, _ = start_crawl(
            "thousand_genomes",
            data,
            args={"base_url": base, **WHOLE_TREE},
            settings=conf,
            tag="worker-a",
        )
        b, out_b, _ = start_crawl(
            "thousand_genomes",
            data,
            args={"base_url": base, **WHOLE_TREE},
            settings=conf,
            tag="worker-b",
        )
        if kill_one:
            stored = lambda: sum(1 for _, s, _ in catalog_states(catalog) if s == "stored")  # noqa: E731
            assert wait_for(lambda: stored() >= 4, 120)
            kill(a, signal.SIGKILL)
        assert b.wait(timeout=300) == 0
        if not kill_one:
            assert a.wait(timeout=300) == 0
        rows = catalog_states(catalog)
        items_a, items_b = read_jsonl(out_a), read_jsonl(out_b)
    # Every file stored, exactly one catalog row each, with the right content.
    assert sorted(p for p, _, _ in rows) == sorted(f"vol1/{p}" for p in blobs)
    for archive_path, state, sha in rows:
        assert state == "stored" and sha == blobs[archive_path[5:]].sha256
        stored_file = data / "genomics" / "thousand_genomes" / archive_path
        assert hashlib.sha256(stored_file.read_bytes()).hexdigest() == sha
    reported = [i["archive_path"] for i in items_a + items_b if i["status"] == "stored"]
    assert len(reported) == len(set(reported))  # no file reported twice
    if not kill_one:
        assert items_a and items_b  # both workers really shared the work
        assert sorted(reported) == sorted(f"vol1/{p}" for p in blobs)
    # No file downloaded twice, except files that were in flight on the killed worker (at
    # most its prefetch window: 2 x CONCURRENT_REQUESTS_PER_DOMAIN): the survivor takes them
    # over once their claim times out.
    again = [
        path
        for path, blob in blobs.items()
        if sum(
            1
            for e in tg.server.requests_for(f"/vol1/{path}", "GET")
            if e.range is None and e.bytes_sent == blob.size
        )
        > 1
    ]
    assert len(again) <= (4 if kill_one else 0), again
