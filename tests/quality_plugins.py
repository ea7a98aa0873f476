"""Hostile scorer plugins for runner tests: one kills its process, one never returns."""

from __future__ import annotations

import os
import time

from capture.quality.scorers.base import Checks, ScoreContext


def crash(ctx: ScoreContext) -> Checks:
    os._exit(3)  # like a segfault inside a C library


def hang(ctx: ScoreContext) -> Checks:
    time.sleep(3600)
    return Checks()
