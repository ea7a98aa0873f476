"""Plots as embeddable PNGs (matplotlib, headless Agg backend)."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from types import ModuleType


def _figure() -> ModuleType:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_data_uri(fig: object) -> str:
    plt = _figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")  # type: ignore[attr-defined]
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def histogram(
    values: Sequence[float], title: str, xlabel: str, thresholds: Sequence[tuple[float, str]] = ()
) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist(list(values), bins=[i / 50 for i in range(51)], color="#4477aa", edgecolor="white")
    for x, label in thresholds:
        ax.axvline(x, color="#cc3311", linestyle="--", linewidth=1)
        ax.text(x, ax.get_ylim()[1] * 0.95, f" {label}", color="#cc3311", fontsize=8, va="top")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("files")
    ax.set_xlim(0, 1.0)
    return png_data_uri(fig)


def bars(labels: Sequence[str], values: Sequence[float], title: str, ylabel: str) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(list(labels), list(values), color="#228833")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=30)
    return png_data_uri(fig)


def line(xs: Sequence[float], ys: Sequence[float], title: str, xlabel: str, ylabel: str) -> str:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.plot(list(xs), list(ys), color="#aa3377")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return png_data_uri(fig)
