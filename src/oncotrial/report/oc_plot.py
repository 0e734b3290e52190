"""Figure of simulated operating characteristics: selection and allocation per dose."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from oncotrial.designs.simulation import OperatingCharacteristics  # noqa: E402


def plot_operating_characteristics(
    results: Sequence[Sequence[OperatingCharacteristics]],
    design_names: Sequence[str],
    scenario_names: Sequence[str],
    truths: Sequence[Sequence[float]],
    dose_labels: Sequence[str],
    path: Path,
    target: float | None = None,
) -> Path:
    """One row per scenario: % selecting each dose and mean patients per dose, by design."""
    n_scen = len(scenario_names)
    fig, axes = plt.subplots(n_scen, 2, figsize=(11, 3.2 * n_scen), squeeze=False)
    x = np.arange(len(dose_labels))
    x_sel = np.arange(len(dose_labels) + 1)
    width = 0.8 / max(len(design_names), 1)
    for j, scen in enumerate(scenario_names):
        sel_ax, pat_ax = axes[j]
        for i, name in enumerate(design_names):
            oc = results[i][j]
            offset = (i - (len(design_names) - 1) / 2) * width
            sel_ax.bar(x_sel + offset, [*oc.selected_pct, oc.no_mtd_pct], width, label=name)
            pat_ax.bar(x + offset, oc.mean_patients, width, label=name)
        truth_words = ", ".join(f"{p:.2f}" for p in truths[j])
        sel_ax.set_title(f"{scen}: % selected as MTD (true DLT: {truth_words})", fontsize=9)
        pat_ax.set_title(f"{scen}: mean patients per dose", fontsize=9)
        sel_ax.set_xticks(x_sel, [*dose_labels, "none"])
        pat_ax.set_xticks(x, dose_labels)
        for ax in (sel_ax, pat_ax):
            ax.set_xlabel("dose level")
            ax.grid(axis="y", alpha=0.3)
        if target is not None:
            near = int(np.argmin(np.abs(np.asarray(truths[j]) - target)))
            sel_ax.axvspan(near - 0.45, near + 0.45, color="0.9", zorder=0)
        sel_ax.set_ylim(0, 100)
        sel_ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
