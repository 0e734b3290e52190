"""Kaplan–Meier figure: step curves with censoring marks, optional confidence bands, and the
numbers at risk under the plot (the layout of R ``survminer::ggsurvplot(risk.table = TRUE)``),
legible on paper: fonts of at least 9 pt, 150 dpi."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from oncotrial.stats.survival import KaplanMeier  # noqa: E402

#: Smallest font on the figure, in points (legible when printed).
MIN_FONT_PT = 9
FONT_PT = 10


def _as_mapping(
    fits: Mapping[str, KaplanMeier] | Sequence[KaplanMeier] | KaplanMeier,
) -> dict[str, KaplanMeier]:
    if isinstance(fits, KaplanMeier):
        return {fits.label or "all": fits}
    if isinstance(fits, Mapping):
        return dict(fits)
    return {fit.label or f"group {i + 1}": fit for i, fit in enumerate(fits)}


def plot_km(
    fits: Mapping[str, KaplanMeier] | Sequence[KaplanMeier] | KaplanMeier,
    path: str | Path | BinaryIO,
    *,
    conf_int: bool = False,
    risk_times: Sequence[float] | None = None,
    xlabel: str = "Time",
    ylabel: str = "Survival probability",
    title: str | None = None,
    xmax: float | None = None,
    dpi: int = 150,
) -> Path | BinaryIO:
    """Draw Kaplan–Meier curves (see :func:`km_figure`) to ``path`` (PNG, PDF or SVG, by its
    suffix; a binary stream gets PNG) at ``dpi`` dots per inch; returns the path written."""
    is_file = isinstance(path, (str, Path))
    if is_file:
        path = Path(path)
    fig = km_figure(
        fits,
        conf_int=conf_int,
        risk_times=risk_times,
        xlabel=xlabel,
        ylabel=ylabel,
        title=title,
        xmax=xmax,
    )
    try:
        fig.savefig(path, dpi=dpi, bbox_inches="tight", format=None if is_file else "png")
    finally:
        plt.close(fig)
    return path


def km_figure(
    fits: Mapping[str, KaplanMeier] | Sequence[KaplanMeier] | KaplanMeier,
    *,
    conf_int: bool = False,
    risk_times: Sequence[float] | None = None,
    xlabel: str = "Time",
    ylabel: str = "Survival probability",
    title: str | None = None,
    xmax: float | None = None,
) -> Figure:
    """A Kaplan–Meier figure (8 inches wide, fonts of at least 9 pt).

    Curves are right-continuous steps from S = 1 at the start time; a vertical tick marks each
    censoring; ``conf_int`` shades each curve's pointwise band. Under the plot, a table gives
    the number still at risk (observed time ≥ t) at ``risk_times``, by default the x-axis
    ticks.
    """
    curves = _as_mapping(fits)
    if not curves:
        raise ValueError("no Kaplan–Meier curve to plot")
    last = max((float(f.time[-1]) for f in curves.values() if f.time.size), default=1.0)
    right = float(xmax) if xmax is not None else last * 1.02
    n_groups = len(curves)
    style = {
        "font.size": FONT_PT,
        "axes.titlesize": FONT_PT + 1,
        "axes.labelsize": FONT_PT,
        "xtick.labelsize": FONT_PT,
        "ytick.labelsize": FONT_PT,
        "legend.fontsize": FONT_PT,
    }
    with plt.rc_context(style):
        fig = plt.figure(figsize=(8.0, 5.2 + 0.3 * n_groups))
        grid = fig.add_gridspec(2, 1, height_ratios=[5.0, 0.9 + 0.32 * n_groups], hspace=0.45)
        ax = fig.add_subplot(grid[0])
        table = fig.add_subplot(grid[1], sharex=ax)
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for i, (label, fit) in enumerate(curves.items()):
            colour = colours[i % len(colours)]
            x = np.concatenate(([fit.start_time], fit.time))
            y = np.concatenate(([1.0], fit.surv))
            ax.step(x, y, where="post", color=colour, linewidth=1.6, label=label)
            censored = fit.n_censor > 0
            ax.plot(
                fit.time[censored],
                fit.surv[censored],
                linestyle="none",
                marker="|",
                markersize=8,
                markeredgewidth=1.2,
                color=colour,
            )
            if conf_int:
                lower = np.concatenate(([1.0], fit.lower))
                upper = np.concatenate(([1.0], fit.upper))
                ax.fill_between(x, lower, upper, step="post", color=colour, alpha=0.15, lw=0)
        ax.set_xlim(min(0.0, min(f.start_time for f in curves.values())), right)
        ax.set_ylim(0.0, 1.02)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, steps=[1, 2, 3, 5, 6, 10]))
        ax.set_ylabel(ylabel)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if title:
            ax.set_title(title)
        handles, _ = ax.get_legend_handles_labels()
        mark = Line2D([], [], color="0.3", marker="|", markersize=8, linestyle="none")
        names = list(curves) if n_groups > 1 else []
        ax.legend(
            [*(handles if n_groups > 1 else []), mark],
            [*names, "censored"],
            loc="upper right",
            frameon=False,
        )
        ticks = (
            np.asarray(risk_times, dtype=float)
            if risk_times is not None
            else np.array([t for t in ax.get_xticks() if 0.0 <= t <= right])
        )
        for row, fit in enumerate(curves.values()):
            y = n_groups - 1 - row
            for t, n_at_risk in zip(ticks, fit.n_risk_at(ticks), strict=True):
                table.text(t, y, str(n_at_risk), ha="center", va="center", fontsize=FONT_PT)
        table.set_ylim(-0.6, n_groups - 0.4)
        table.set_yticks(range(n_groups), list(curves)[::-1])
        for tick, colour in zip(
            table.get_yticklabels()[::-1], colours * (n_groups // len(colours) + 1), strict=False
        ):
            tick.set_color(colour)
        table.set_title("Number at risk", loc="left", fontsize=FONT_PT)
        table.tick_params(axis="x", which="both", bottom=False, labelbottom=False)
        table.tick_params(axis="y", length=0, pad=14)
        for spine in table.spines.values():
            spine.set_visible(False)
    return fig
