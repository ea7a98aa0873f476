"""Import Scrapy's HTTP/1.1 download handler without its 0.1-0.2 s of ``inspect`` at start-up.

``scrapy.utils.deprecate.create_deprecated_class`` names the module of a deprecated alias with
``inspect.getmodule(inspect.stack()[1][0])``. ``inspect.stack()`` reads the source lines of every
frame on the stack and ``getmodule`` scans all of ``sys.modules`` (about 900 modules in a
crawl); three aliases in ``scrapy.core.downloader.tls`` and ``.contextfactory`` cost 0.16-0.18 s
of every crawl's start (measured: that import takes 0.178 s as is, 0.013 s under
:func:`lean_frames`), which a latency-bound crawl of a few minutes pays in full. While the
import runs, the two calls answer from the frames themselves: the caller's frame (what
``stack()[1]`` is for) and its module by ``__name__``, which is what ``getmodule`` finds; the
aliases get the same ``__module__`` (tests/test_hot_path.py).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType, ModuleType
from typing import Any


def _stack(context: int = 1) -> list[inspect.FrameInfo]:
    frame: FrameType | None = sys._getframe(1)
    out = []
    while frame is not None:
        code = frame.f_code
        out.append(
            inspect.FrameInfo(frame, code.co_filename, frame.f_lineno, code.co_name, None, None)
        )
        frame = frame.f_back
    return out


@contextmanager
def lean_frames() -> Iterator[None]:
    """``inspect.stack`` without source lines and ``inspect.getmodule`` of a frame by its
    globals' ``__name__``, for the duration of an import (start-up runs on one thread)."""
    real_stack, real_getmodule = inspect.stack, inspect.getmodule

    def getmodule(obj: Any, _filename: str | None = None) -> ModuleType | None:
        if inspect.isframe(obj):
            module = sys.modules.get(obj.f_globals.get("__name__", ""))
            if module is not None:
                return module
        return real_getmodule(obj, _filename)

    inspect.stack, inspect.getmodule = _stack, getmodule  # type: ignore[assignment]
    try:
        yield
    finally:
        inspect.stack, inspect.getmodule = real_stack, real_getmodule
