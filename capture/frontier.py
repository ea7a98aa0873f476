"""A crawl frontier shared by several crawler processes (scrapyd nodes), on Redis Streams.

Why not scrapy-redis: its last release (0.9.1, 2024) lacks Scrapy >= 2.16's async ``start()``
(scrapy-redis issue #305) and its ``pop()`` has no lease (``queue.py``), so requests in flight
on a worker that dies are lost. Files here are items, not requests, and a Redis *stream* with a
consumer group gives exactly the missing piece: every delivered entry stays *pending* for its
consumer until acknowledged, and entries idle longer than the claim timeout (their worker died)
are re-delivered to the survivors (``XAUTOCLAIM``). Live workers keep their long transfers by
touching their pending entries (a heartbeat), so nothing is stolen from them.

Keys (``<name>`` = ``CAPTURE_FRONTIER_NAME``, default ``<run id>:<archive>``; every worker of
a round must share the run id):

* ``capture:<name>:seen``  set of file keys ever offered (dedup: each file enters once);
* ``capture:<name>:files`` the stream of file items (JSON), consumer group ``workers``.

At-least-once delivery plus the shared catalog's state makes each file *stored* exactly once:
an entry re-delivered after its worker stored the file (but died before acknowledging) finds
the file already stored and is acknowledged without a download.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.typing import StreamIdT

logger = logging.getLogger(__name__)
GROUP = "workers"

# SADD + XADD atomically: a file is queued once, whichever worker discovers it first.
OFFER = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then
  return redis.call('XADD', KEYS[2], '*', 'key', ARGV[1], 'item', ARGV[2])
end
return false
"""


class RedisFrontier:
    def __init__(
        self, url: str, name: str, *, consumer: str | None = None, claim_idle: float = 300.0
    ):
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(url, decode_responses=True)
        self.name = name
        self.seen = f"capture:{name}:seen"
        self.stream = f"capture:{name}:files"
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.claim_idle_ms = int(claim_idle * 1000)
        self._offer = self.redis.register_script(OFFER)
        self._group_ready = False

    async def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: another worker created it first
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    async def offer(self, key: str, item: dict[str, Any]) -> bool:
        """Queue a discovered file; False when some worker already queued it."""
        await self._ensure_group()
        entry = await self._offer(
            keys=[self.seen, self.stream], args=[key, json.dumps(item, default=str)]
        )
        return bool(entry)

    async def take(self, count: int) -> list[tuple[str, dict[str, Any]]]:
        """Entries of dead workers first (idle past the claim timeout), then new ones."""
        await self._ensure_group()
        out: list[tuple[str, dict[str, Any]]] = []
        _, claimed, *_ = await self.redis.xautoclaim(
            self.stream, GROUP, self.consumer, self.claim_idle_ms, "0-0", count=count
        )
        for entry_id, fields in claimed:
            if fields:
                out.append((entry_id, json.loads(fields["item"])))
        if len(out) < count:
            replies = await self.redis.xreadgroup(
                GROUP, self.consumer, {self.stream: ">"}, count=count - len(out)
            )
            # RESP2: [[stream, [(entry id, fields), ...]], ...], or None when nothing is new.
            for _stream, entries in replies if isinstance(replies, list) else []:
                for entry_id, fields in entries:
                    out.append((entry_id, json.loads(fields["item"])))
        return out

    async def ack(self, entry_id: str) -> None:
        await self.redis.xack(self.stream, GROUP, entry_id)

    async def heartbeat(self, entry_ids: Sequence[str]) -> None:
        """Reset the idle time of our own in-flight entries (long transfers stay ours)."""
        if entry_ids:
            ids: list[StreamIdT] = [*entry_ids]
            await self.redis.xclaim(self.stream, GROUP, self.consumer, 0, ids, justid=True)

    async def outstanding(self) -> tuple[int, int]:
        """(entries not yet delivered to anyone, entries delivered but not acknowledged)."""
        await self._ensure_group()
        groups = await self.redis.xinfo_groups(self.stream)
        group = next((g for g in groups if g["name"] == GROUP), None)
        lag = int(group.get("lag") or 0) if group else 0
        pending = int(group.get("pending") or 0) if group else 0
        return lag, pending

    async def close(self) -> None:
        await self.redis.aclose()
