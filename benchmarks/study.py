"""Speed of ``simulate-study`` on one core: simulated phase I/II studies per second for each
candidate design of the seed protocol, and the cost of the whole study relative to the
escalation alone (the design's own simulator on the same latent patients: the anchor).

No R package simulates a whole seamless phase I/II study, so the anchor is ours; the figure
says how much selection and expansion add to the escalation. CPU seconds of the process.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from oncotrial.designs.efficacy import EfficacyLatents  # noqa: E402
from oncotrial.protocol import load_protocol  # noqa: E402
from oncotrial.sim.study import study_characteristics  # noqa: E402
from oncotrial.sim.study_designs import (  # noqa: E402
    run_escalation,
    study_designs,
    study_scenarios,
    study_truths,
)

PROTOCOL = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=20_000, help="studies per design")
    args = parser.parse_args()
    proto = load_protocol(PROTOCOL)
    scenario = study_scenarios(proto, ["plateau"])
    truths = study_truths(proto, scenario)
    for design in study_designs(proto):
        study_characteristics([design], scenario, truths, 200, 0)  # warm-up (numba, tables)
        start = time.process_time()
        study_characteristics([design], scenario, truths, args.trials, 1)
        whole = time.process_time() - start
        start = time.process_time()
        latent = EfficacyLatents.draw(args.trials, design.latent_width, 1, 0)
        run_escalation(design, scenario[0], latent)
        alone = time.process_time() - start
        print(
            f"{design.name:18} {args.trials / whole:10,.0f} studies/s   "
            f"escalation alone {args.trials / alone:10,.0f} trials/s   "
            f"whole study / escalation = {whole / alone:.2f}"
        )


if __name__ == "__main__":
    main()
