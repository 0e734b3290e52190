"""Phase II: the Simon stage-1 interim proposed from the stored responses (issue 9 §2).

Reference: the virtual trial's own stage-1 analysis, computed in memory from the tumour
measurements it generated (``sim.virtual_trial.confirmed_responders``: the RECIST 1.1 engine on
the lesions dated up to the interim) — here recomputed from the store after the trial was
entered, by the derive pipeline, as of the same date. The plan n1 = 13, r1 = 3, n = 43 is
Simon's optimal design for p0 = 0.15, p1 = 0.35, α = 0.05, power 0.8 (clinfun::ph2simon; see
tests/test_phase2.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conduct_fixtures import PASSWORD, PROTOCOL, actor
from oncotrial.conduct import StateError, Study, accounts
from oncotrial.conduct.cohorts import cohorts
from oncotrial.conduct.committee import FINAL, sign_decision
from oncotrial.conduct.interim import SIMON_DESIGN, propose_stage1
from oncotrial.protocol import load_protocol
from oncotrial.sim.trial_run import run_virtual_trial
from oncotrial.store import init_db

pytest_plugins = ["store_fixtures", "conduct_fixtures"]


#: seed 1 passes stage 1 (5 responders of 13); seed 7 stops (2 of 13) — one seed is run, the
#: slower derivation keeps the suite's time in check; both agree with the virtual trial
@pytest.mark.parametrize(("seed", "passes"), [(1, True)])
def test_stage1_from_the_store_equals_the_virtual_trials_analysis(
    tmp_path: Path, seed: int, passes: bool
) -> None:
    url = f"sqlite:///{tmp_path / 'trial.db'}"
    store = init_db(url)
    trial = run_virtual_trial(load_protocol(PROTOCOL), seed, store)
    store.close()
    study = Study.open(url, PROTOCOL)
    try:
        admin = study.system_actor("test-setup")
        for name, role, sites in (
            ("stat", "statistician", ()),
            ("dec", "committee", ()),
            ("inv01", "investigator", ("01",)),
        ):
            accounts.add_user(study, admin, name, role, PASSWORD, full_name=name, sites=sites)
        plan = trial.expansion
        interim = trial.day_to_date(plan["interim_day"])
        with pytest.raises(StateError, match="stage 1 needs 13 dosed"):
            propose_stage1(study, actor(study, "stat"), as_of=trial.day_to_date(0))
        made = propose_stage1(study, actor(study, "stat"), as_of=interim)
        assert made.design == SIMON_DESIGN and made.phase == "II"
        assert (made.inputs["n1"], made.inputs["r1"], made.inputs["n"]) == (13, 3, 43)
        assert made.inputs["subjects"] == plan["stage1_subjects"]
        assert made.inputs["responders"] == plan["stage1_responders"]
        assert (plan["stage1_responders"] > 3) is passes
        assert made.action == ("dose" if passes else "stop")
        for who in ("stat", "dec", "inv01"):
            final = sign_decision(study, actor(study, who), made.id, PASSWORD)
        assert final.status == FINAL
        phase2 = [c for c in cohorts(study, actor(study, "stat")) if c.phase == "II"]
        if passes:
            assert final.next_cohort == phase2[0].number and len(phase2[0].slots) == 30
            assert phase2[0].status == "open"
        else:
            assert final.next_cohort is None and all(c.status == "closed" for c in phase2)
    finally:
        study.close()
