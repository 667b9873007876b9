"""PNG charts of evaluation rows and experiment tables (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _bars(groups: list[str], series: list[str], value, err_lo, err_hi, ylabel: str, title: str) -> bytes:
    """Grouped bars: one group per x label, one coloured bar per series, asymmetric error bars."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(groups) * max(1, len(series)) ** 0.5 + 2), 4.5))
    try:
        width = 0.8 / max(1, len(series))
        x = np.arange(len(groups))
        colours = plt.get_cmap("tab10")
        for k, name in enumerate(series):
            v = np.array([value(g, name) for g in groups], dtype=float)
            lo = np.array([err_lo(g, name) for g in groups], dtype=float)
            hi = np.array([err_hi(g, name) for g in groups], dtype=float)
            yerr = np.vstack([np.nan_to_num(v - lo), np.nan_to_num(hi - v)]).clip(min=0)
            ax.bar(
                x + (k - (len(series) - 1) / 2) * width, np.nan_to_num(v), width, yerr=yerr, capsize=2,
                label=name, color=colours(k % 10),
            )  # fmt: skip
        ax.set_xticks(x, groups, rotation=30, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1)
        ax.set_title(title)
        if series:
            ax.legend(fontsize="small")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    finally:
        plt.close(fig)


def _ordered(values) -> list[str]:
    return list(dict.fromkeys(values))


def plot_rows(rows: Sequence[dict]) -> bytes:
    """mAP50 (AP50 per class) per slice with bootstrap error bars; rows as ``evaluate`` returns them."""
    table = {(r["slice"], r["class"]): r for r in rows}
    slices, classes = _ordered(r["slice"] for r in rows), _ordered(r["class"] for r in rows)

    def get(key):
        def f(s, c):
            r = table.get((s, c))
            v = None if r is None else r.get(key)
            return np.nan if v is None else v

        return f

    lo, hi = get("ap50_low"), get("ap50_high")
    ap = get("ap50")
    return _bars(
        slices, classes, ap,
        lambda s, c: ap(s, c) if np.isnan(lo(s, c)) else lo(s, c),
        lambda s, c: ap(s, c) if np.isnan(hi(s, c)) else hi(s, c),
        "AP50", "AP50 per slice (95% bootstrap interval)",
    )  # fmt: skip


def plot_experiment(table: Sequence[dict]) -> bytes:
    """Bars per arm per bucket, mean ± std over seeds.

    ``table`` rows: ``{"arm": str, "slice": str, "mean": float, "std": float}`` (one per arm and slice).
    """
    cells = {(r["slice"], r["arm"]): r for r in table}
    slices, arms = _ordered(r["slice"] for r in table), _ordered(r["arm"] for r in table)

    def mean(s, a):
        r = cells.get((s, a))
        return np.nan if r is None else float(r["mean"])

    def std(s, a):
        r = cells.get((s, a))
        return 0.0 if r is None or r.get("std") is None else float(r["std"])

    return _bars(
        slices, arms, mean, lambda s, a: mean(s, a) - std(s, a), lambda s, a: mean(s, a) + std(s, a),
        "mAP50", "mAP50 per arm and slice (mean ± std over seeds)",
    )  # fmt: skip


def plot_robustness(rows: Sequence[dict], weather: str, parameter: str) -> bytes:
    """mAP50 (class ``all``) against level, one line per slice, its bootstrap interval as a band.

    ``rows``: evaluation rows with ``level`` (None = unmodified); levels are drawn in the order given, evenly
    spaced, so a curve reads from clear to the strongest weather however the parameter runs."""
    rows = [r for r in rows if r["class"] == "all"]
    levels = list(dict.fromkeys(r["level"] for r in rows))
    slices = _ordered(r["slice"] for r in rows)
    cells = {(r["slice"], r["level"]): r for r in rows}
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(levels) + 2), 4.5))
    try:
        x = np.arange(len(levels))
        colours = plt.get_cmap("tab10")
        for k, s in enumerate(slices):
            got = [cells.get((s, lv)) for lv in levels]
            y = np.array([np.nan if r is None else r["ap50"] for r in got], dtype=float)
            lo = np.array(
                [np.nan if r is None or r["ap50_low"] is None else r["ap50_low"] for r in got], float
            )
            hi = np.array(
                [np.nan if r is None or r["ap50_high"] is None else r["ap50_high"] for r in got], float
            )
            ax.plot(x, y, marker="o", label=s, color=colours(k % 10))
            if not np.isnan(lo).all():
                ax.fill_between(x, lo, hi, alpha=0.15, color=colours(k % 10))
        ax.set_xticks(x, ["none" if lv is None else f"{lv:g}" for lv in levels])
        ax.set_xlabel(f"{weather} {parameter}")
        ax.set_ylabel("mAP50")
        ax.set_ylim(0, 1)
        ax.set_title(f"mAP50 against {weather} {parameter} (95% bootstrap interval)")
        if slices:
            ax.legend(fontsize="small")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        return buf.getvalue()
    finally:
        plt.close(fig)
