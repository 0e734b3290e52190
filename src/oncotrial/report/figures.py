"""Figures of the trial report: dose escalation, waterfall, spider and swimmer plots.

Each function takes a small, plainly named DataFrame (built by the report from the endpoint
layer's outputs), draws one figure legible when printed (≥ 9 pt text, 150 dpi) and writes it to
``path`` — a file (returned) or a binary stream (PNG; see :mod:`oncotrial.report.panels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

RESPONSE_COLOURS = {
    "CR": "#1a9850",
    "PR": "#91cf60",
    "SD": "#fee08b",
    "NON-CR/NON-PD": "#fee08b",
    "PD": "#d73027",
    "NE": "#bdbdbd",
    "MISSING": "#bdbdbd",
}
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9})


Target = Path | BinaryIO


def _save(fig: plt.Figure, path: Target) -> Target:
    fig.tight_layout()
    if isinstance(path, (str, Path)):
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=150)
    else:
        fig.savefig(path, dpi=150, format="png")
    plt.close(fig)
    return path


def plot_dose_escalation(
    patients: pd.DataFrame, dose_labels: Sequence[str], path: Target, window_days: float = 28.0
) -> Target:
    """Each phase I patient's dose level over calendar time, DLTs marked.

    ``patients`` columns: ``subject``, ``start`` (datetime of first dose), ``dose_index``
    (0-based), ``dlt`` (bool), ``cohort``.
    """
    fig, ax = plt.subplots(figsize=(9, 3.8))
    data = patients.sort_values("start")
    for _, row in data.iterrows():
        colour = "#d73027" if row["dlt"] else "#4575b4"
        ax.plot(
            [row["start"], row["start"] + pd.Timedelta(days=window_days)],
            [row["dose_index"]] * 2,
            color=colour,
            alpha=0.35,
            lw=6,
            solid_capstyle="butt",
        )
        ax.scatter(
            row["start"],
            row["dose_index"],
            color=colour,
            marker="X" if row["dlt"] else "o",
            s=46,
            zorder=3,
        )
    ax.set_yticks(range(len(dose_labels)), dose_labels)
    ax.set_ylim(-0.6, len(dose_labels) - 0.4)
    ax.set_ylabel("dose level")
    ax.set_xlabel("first dose (bar: the DLT window)")
    ax.set_title("Phase I dose escalation (× = patient with a DLT)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_waterfall(best: pd.DataFrame, path: Target, criteria: str = "RECIST 1.1") -> Target:
    """Best percent change from baseline in the sum of target diameters, one bar per patient,
    coloured by confirmed best overall response; dashed lines at −30 % (PR) and +20 % (PD).

    ``best`` columns: ``subject``, ``best_pchg``, ``bor``.
    """
    data = best.dropna(subset=["best_pchg"]).sort_values("best_pchg", ascending=False)
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(data))
    colours = [RESPONSE_COLOURS.get(str(b), "#bdbdbd") for b in data["bor"]]
    ax.bar(x, data["best_pchg"], color=colours, edgecolor="black", linewidth=0.3)
    ax.axhline(-30, ls="--", color="black", lw=0.8)
    ax.axhline(20, ls=":", color="black", lw=0.8)
    ax.set_xticks([])
    ax.set_xlabel(f"patients with a post-baseline measurement (n = {len(data)})")
    ax.set_ylabel("best % change in target sum")
    ax.set_title(f"Waterfall plot ({criteria}; colour: confirmed best overall response)")
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=RESPONSE_COLOURS[k])
        for k in ("CR", "PR", "SD", "PD", "NE")
    ]
    ax.legend(
        handles,
        ["CR", "PR", "SD", "PD", "NE"],
        title="best response",
        ncol=5,
        loc="upper right",
        fontsize=8,
    )
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def plot_spider(changes: pd.DataFrame, path: Target) -> Target:
    """Percent change from baseline in the target sum over time, one line per patient.

    ``changes`` columns: ``subject``, ``week``, ``pchg``, ``bor``.
    """
    fig, ax = plt.subplots(figsize=(9, 4))
    for _subject, rows in changes.sort_values("week").groupby("subject"):
        bor = str(rows["bor"].iloc[0])
        ax.plot(
            [0, *rows["week"]],
            [0, *rows["pchg"]],
            color=RESPONSE_COLOURS.get(bor, "grey"),
            lw=1,
            alpha=0.8,
            marker="o",
            ms=2.5,
        )
    ax.axhline(-30, ls="--", color="black", lw=0.8)
    ax.axhline(20, ls=":", color="black", lw=0.8)
    ax.set_xlabel("weeks since first dose")
    ax.set_ylabel("% change in target sum")
    ax.set_title("Spider plot (colour: confirmed best overall response)")
    ax.grid(alpha=0.3)
    return _save(fig, path)


#: One colour per dose level (colour-blind-safe qualitative palette, Okabe & Ito 2008).
LEVEL_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def plot_swimmer(lanes: pd.DataFrame, path: Target) -> Target:
    """Time on study per patient, grouped by dose level (lowest first, a gap between levels)
    and coloured by it: a light bar to last contact or death, a dark bar while on treatment,
    first confirmed response, progression and death marked, an arrow for patients still on
    treatment.

    ``lanes`` columns: ``subject``, ``level`` (0-based), ``dose`` (the level's name),
    ``on_treatment`` and ``on_study`` (months), ``response`` / ``progression`` / ``death``
    (months or NaN), ``ongoing`` (bool).
    """
    data = lanes.sort_values(["level", "on_study"], ascending=[False, True]).reset_index(drop=True)
    gaps = data["level"].ne(data["level"].shift()).cumsum() - 1
    y = np.arange(len(data)) + gaps.to_numpy() * 1.0
    height = max(3.5, 0.16 * (len(data) + gaps.max() + 1) + 2.2)
    fig, ax = plt.subplots(figsize=(9, height))
    levels = sorted(data["level"].dropna().unique())
    for level in levels:
        at = data["level"].eq(level).to_numpy()
        colour = LEVEL_COLOURS[int(level) % len(LEVEL_COLOURS)]
        name = str(data.loc[at, "dose"].iloc[0])
        ax.barh(y[at], data.loc[at, "on_study"], color=colour, alpha=0.3, height=0.75)
        ax.barh(y[at], data.loc[at, "on_treatment"], color=colour, height=0.75, label=name)
    for column, marker, colour, label in (
        ("response", "^", "white", "first confirmed response"),
        ("progression", "s", "#d73027", "progression"),
        ("death", "X", "black", "death"),
    ):
        rows = data[column].notna().to_numpy()
        ax.scatter(
            data.loc[rows, column],
            y[rows],
            marker=marker,
            facecolors=colour,
            edgecolors="black",
            linewidths=0.6,
            s=26,
            zorder=3,
            label=label,
        )
    ongoing = data["ongoing"].to_numpy(dtype=bool)
    ax.scatter(
        data.loc[ongoing, "on_study"] + 0.3,
        y[ongoing],
        marker=">",
        color="#4d4d4d",
        s=18,
        label="on treatment at the data cut",
    )
    ax.set_yticks(y, data["subject"], fontsize=6 if len(data) > 40 else 8)
    ax.set_xlabel("months since first dose (dark: on treatment; light: in follow-up)")
    ax.set_title("Swimmer plot by dose level")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=4, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


def plot_enrolment(
    monthly: pd.DataFrame,
    sites: Sequence[str],
    path: Target,
    targets: Sequence[tuple[str, int]] = (),
) -> Target:
    """Enrolment over time against plan: patients enrolled each month stacked by site (bars,
    left axis), the cumulative total (solid step) and the protocol's planned cumulative
    enrolment (dashed), with the planned sample sizes as dotted lines.

    ``monthly`` columns: ``month`` (datetime, first day), one count column per name in
    ``sites``, ``cumulative`` (NaN after the as-of month) and ``planned`` (NaN where no plan).
    """
    fig, ax = plt.subplots(figsize=(9, 4))
    x = pd.to_datetime(monthly["month"]) + pd.Timedelta(days=14)
    bottom = np.zeros(len(monthly))
    twin = ax.twinx()
    for i, site in enumerate(sites):
        counts = monthly[site].to_numpy(dtype=float)
        twin.bar(
            x,
            counts,
            width=24,
            bottom=bottom,
            color=LEVEL_COLOURS[i % len(LEVEL_COLOURS)],
            alpha=0.55,
            label=f"site {site}",
        )
        bottom += counts
    ax.step(
        x, monthly["cumulative"], where="mid", color="#1d2430", lw=2, label="enrolled (cumulative)"
    )
    if monthly["planned"].notna().any():
        ax.plot(x, monthly["planned"], ls="--", color="#1f5fa8", lw=1.5, label="planned")
    for name, n in targets:
        ax.axhline(n, ls=":", color="#5b6472", lw=0.9)
        ax.annotate(
            f"{name}: {n}",
            (x.iloc[0], n),
            xytext=(2, 2),
            textcoords="offset points",
            fontsize=8,
            color="#5b6472",
        )
    ax.set_zorder(twin.get_zorder() + 1)
    ax.patch.set_visible(False)
    top = max([n for _, n in targets] + [float(np.nanmax(monthly["cumulative"]) or 0), 1])
    ax.set_ylim(0, top * 1.1)
    twin.set_ylim(0, max(float(bottom.max()), 1) * 3)
    ax.set_ylabel("patients enrolled (cumulative)")
    twin.set_ylabel("patients enrolled in the month (bars)")
    ax.set_xlabel("month of enrolment")
    ax.set_title("Enrolment over time against the protocol's plan")
    handles = ax.get_legend_handles_labels()
    bars = twin.get_legend_handles_labels()
    ax.legend(
        handles[0] + bars[0],
        handles[1] + bars[1],
        fontsize=8,
        loc="upper left",
        bbox_to_anchor=(0, -0.15),
        ncol=4,
        frameon=False,
    )
    ax.grid(alpha=0.3)
    return _save(fig, path)
