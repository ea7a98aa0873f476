"""What an S3 ETag says about an object's bytes, and when it says nothing.

S3 documents (Amazon S3 User Guide, "Checking object integrity", ``ETag``): an object
uploaded by a single PutObject (plain or SSE-S3) has the MD5 of its bytes as ETag; an object
assembled by a multipart upload has ``<md5 of the parts' md5s>-<number of parts>``, which is
no digest of the bytes at all; SSE-KMS/SSE-C objects have ETags that are not MD5s either
(they cannot be read anonymously, so an open replica never serves one). Hence a single-part
ETag may be compared with the MD5 of what we received, a multipart one never; the
publisher's own digest (MAST's md5, current.tree's md5) stays the verification digest.
"""

from __future__ import annotations

import re

_SINGLE = re.compile(r"^[0-9a-f]{32}$")
_MULTI = re.compile(r"^[0-9a-f]{32}-(\d+)$")


def _bare(etag: str | None) -> str:
    """The ETag without quotes and weak prefix, lower case (S3 sends ``"hex"``)."""
    value = (etag or "").strip()
    if value[:2] in ("W/", "w/"):
        value = value[2:]
    return value.strip('"').lower()


def single_part_md5(etag: str | None) -> str | None:
    """The MD5 a single-part S3 ETag stands for; None for a multipart or unknown ETag."""
    value = _bare(etag)
    return value if _SINGLE.match(value) else None


def multipart_parts(etag: str | None) -> int | None:
    """The number of parts of a multipart ETag (``...-N``); None for any other ETag."""
    m = _MULTI.match(_bare(etag))
    return int(m.group(1)) if m else None
