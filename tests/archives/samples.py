"""Access to the real recorded archive responses in ``../shared/samples`` (never copied here).

Tests that need them call :func:`sample_path` and skip cleanly when the folder is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def samples_root() -> Path | None:
    env = os.environ.get("CAPTURE_SHARED_SAMPLES")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "samples", Path("/work/shared/samples")]
    for c in candidates:
        if c.is_dir():
            return c
    return None


def sample_path(*parts: str) -> Path:
    """Path of a recorded sample, or skip the calling test when samples are not available."""
    root = samples_root()
    if root is None:
        pytest.skip("../shared/samples is not available on this machine")
    path = root.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"sample {'/'.join(parts)} is not available")
    return path
