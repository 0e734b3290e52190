"""Figure of a simulated seamless phase I/II study: candidate designs side by side."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from oncotrial.sim.study import StudyCharacteristics  # noqa: E402


def plot_study(
    results: Sequence[Sequence[StudyCharacteristics]],
    dose_labels: Sequence[str],
    path: Path,
) -> Path:
    """One row per scenario: the study's final dose by design (the true OBD shaded), and the
    probabilities of the right MTD, the right OBD and a positive phase II, with the mean sample
    size and duration under each design's bars. ``results`` is indexed ``[design][scenario]``."""
    n_designs = len(results)
    n_scen = len(results[0])
    fig, axes = plt.subplots(n_scen, 2, figsize=(13, 3.4 * n_scen), squeeze=False)
    width = 0.8 / max(n_designs, 1)
    x_sel = np.arange(len(dose_labels) + 1)
    metrics = ("right MTD", "right OBD", "positive phase II")
    x_met = np.arange(len(metrics))
    for j in range(n_scen):
        sel_ax, met_ax = axes[j]
        first = results[0][j]
        for i in range(n_designs):
            oc = results[i][j]
            offset = (i - (n_designs - 1) / 2) * width
            sel_ax.bar(
                x_sel + offset, [*oc.final_selected_pct, oc.final_none_pct], width, label=oc.design
            )
            values = [oc.right_mtd_pct, oc.right_obd_pct, oc.positive_pct or 0.0]
            met_ax.bar(x_met + offset, values, width, label=oc.design)
            met_ax.text(
                x_met[-1] + 0.55,
                95 - 9 * i,
                f"{oc.design}: N {oc.mean_n:.0f}, {oc.mean_duration_months:.0f} mo, "
                f"{oc.mean_above_mtd:.1f} above MTD",
                fontsize=7,
                va="top",
            )
        obd = first.true_obd if first.true_obd >= 0 else len(dose_labels)
        sel_ax.axvspan(obd - 0.45, obd + 0.45, color="0.9", zorder=0)
        sel_ax.set_title(f"{first.scenario}: % final dose (true OBD shaded)", fontsize=9)
        sel_ax.set_xticks(x_sel, [*dose_labels, "none"])
        sel_ax.set_xlabel("dose level")
        met_ax.set_title(
            f"{first.scenario}: % of simulated studies (ROSE selects, it has no test)", fontsize=9
        )
        met_ax.set_xticks(x_met, metrics)
        met_ax.set_xlim(-0.6, x_met[-1] + 2.6)
        for ax in (sel_ax, met_ax):
            ax.set_ylim(0, 100)
            ax.grid(axis="y", alpha=0.3)
        sel_ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
