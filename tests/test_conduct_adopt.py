"""Records that arrived by another door (the virtual trial, ``db import``) get their forms:
every SDTM record ends up in exactly one form, nothing in SDTM changes, and adopting again
makes nothing new."""

from __future__ import annotations

from pathlib import Path

from conduct_fixtures import PROTOCOL
from oncotrial.conduct import Study, reading, review
from oncotrial.conduct.adopt import adopt_records
from oncotrial.conduct.roles import Actor, Role
from oncotrial.protocol import load_protocol
from oncotrial.sim.trial_run import run_virtual_trial, sdtm_from_store
from oncotrial.store import DOMAIN_MODELS, Store, init_db

pytest_plugins = ["store_fixtures", "conduct_fixtures"]


def test_every_imported_record_gets_exactly_one_form(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'virtual.db'}"
    protocol = load_protocol(PROTOCOL)
    store = init_db(url)
    run_virtual_trial(protocol, 7, store)
    before = sdtm_from_store(store)
    total = sum(len(store.records(domain)) for domain in DOMAIN_MODELS)
    study = Study.open(url, protocol)
    try:
        admin = study.system_actor("adopt")
        made = adopt_records(study, admin)
        assert made > 0 and adopt_records(study, admin) == 0
        dm = Actor("dm", Role.data_manager)
        held: list[tuple[str, int]] = []
        for subject in reading.list_subjects(study, dm):
            forms = reading.subject_forms(study, dm, subject.usubjid)
            assert all(f.content_intact for f in forms)
            held += [ref for f in forms for ref in f.records]
        assert len(held) == len(set(held)) == total
        first = reading.list_subjects(study, dm)[0]
        [screening] = [
            f for f in reading.subject_forms(study, dm, first.usubjid) if f.form == "SCREEN"
        ]
        assert screening.values["consent_date"] == first.consent_date
        assert review.signatures(study, dm, screening.id) == []
    finally:
        study.close()
    after = sdtm_from_store(store)
    assert before.keys() == after.keys()
    assert all(before[k].equals(after[k]) for k in before)
    assert store.verify_audit().ok
    store.close()
    assert Store.open(url).records("AE").shape[0] == before["ae"].shape[0]
