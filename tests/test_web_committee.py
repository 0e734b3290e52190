"""The phase I pages and JSON API (issue 9 §2): the cohort opened from the cohorts page, a slot
reserved by a site, the board, a proposal, a choice refused outside the admissible set, the
signatures and the next cohort, notifications as a page and as a JSON feed."""

from __future__ import annotations

from conduct_fixtures import PASSWORD, actor, eligible_answers
from oncotrial.conduct import entry
from oncotrial.conduct.cohorts import cohorts
from phase1_fixtures import study_without_cohorts
from web_helpers import bearer, client, login

pytest_plugins = ["store_fixtures", "conduct_fixtures"]


def test_cohort_to_signed_decision_through_pages_and_api(tmp_path) -> None:
    study = study_without_cohorts(f"sqlite:///{tmp_path / 'trial.db'}")
    try:
        stat = client(study)
        csrf = login(stat, "stat")
        assert "Open cohort 1" in stat.get("/cohorts").text
        assert stat.post("/cohorts/first", data={"csrf_token": csrf}).status_code == 303
        site = client(study)
        site_csrf = login(site, "crc01")
        crc = actor(study, "crc01")
        subjects = []
        for day in ("2025-01-13", "2025-01-15", "2025-01-20"):
            usubjid = entry.screen(
                study, crc, {"site": "01", "consent_date": "2025-01-06", **eligible_answers(study)}
            ).usubjid
            page = site.get("/cohorts")
            assert usubjid in page.text
            done = site.post(
                "/cohorts/reserve",
                data={"csrf_token": site_csrf, "usubjid": usubjid, "enrol_date": "2025-01-08"},
            )
            assert done.status_code == 303 and "reserved" in done.headers["location"]
            entry.save_form(
                study,
                crc,
                usubjid,
                "EX-DONAFENIB",
                {"cycle": "1", "start": day, "dose": "100", "frequency": "BID"},
            )
            subjects.append(usubjid)
        extra = entry.screen(
            study, crc, {"site": "01", "consent_date": "2025-01-06", **eligible_answers(study)}
        ).usubjid
        refused = site.post(
            "/cohorts/reserve", data={"csrf_token": site_csrf, "usubjid": extra, "enrol_date": ""}
        )
        assert refused.status_code == 409 and "no cohort has an open slot" in refused.text
        board = stat.get("/board?as_of=2025-02-12")
        assert board.status_code == 200 and "wait" in board.text
        assert all(u in board.text for u in subjects)
        api = bearer(stat, "stat")
        data = stat.get("/api/board", params={"as_of": "2025-02-17"}, headers=api).json()
        assert data["recommendation"]["next_level"] == 2 and data["counts"]["pending"] == [
            0,
            0,
            0,
            0,
        ]
        made = stat.post("/meeting/propose", data={"csrf_token": csrf, "as_of": "2025-02-17"})
        assert made.status_code == 303
        decision_url = made.headers["location"]
        decision_id = int(decision_url.rsplit("/", 1)[1])
        page = stat.get(decision_url)
        assert "L2, donafenib 200 mg bid" in page.text and "L-1, L1, L2" in page.text
        committee = client(study)
        dec_csrf = login(committee, "dec")
        wrong = committee.post(
            f"{decision_url}/choice",
            data={"csrf_token": dec_csrf, "action": "dose", "dose": "L1", "reason": ""},
        )
        assert wrong.status_code == 422 and "reason is required" in wrong.text
        headers = bearer(committee, "dec")
        outside = committee.post(
            f"/api/decisions/{decision_id}/choice",
            json={"action": "dose", "dose": "L3", "reason": "skip"},
            headers=headers,
        )
        assert outside.status_code == 422 and "admissible" in outside.json()["message"]
        bad = stat.post(f"{decision_url}/sign", data={"csrf_token": csrf, "password": "nope"})
        assert bad.status_code == 401
        assert (
            stat.post(
                f"{decision_url}/sign", data={"csrf_token": csrf, "password": PASSWORD}
            ).status_code
            == 303
        )
        signed = committee.post(
            f"/api/decisions/{decision_id}/signature", json={"password": PASSWORD}, headers=headers
        )
        assert signed.status_code == 200 and signed.json()["missing_signers"]
        pi = client(study)
        pi_csrf = login(pi, "inv01")
        assert (
            pi.post(
                f"{decision_url}/sign", data={"csrf_token": pi_csrf, "password": PASSWORD}
            ).status_code
            == 303
        )
        final = stat.get("/api/decisions", headers=api).json()[0]
        assert final["status"] == "final" and final["next_cohort"] == 2
        assert cohorts(study, actor(study, "stat"))[0].level == "L2"
        feed = site.get(
            "/api/notifications", params={"as_of": "2025-02-20"}, headers=bearer(site, "crc01")
        ).json()
        kinds = {n["kind"] for n in feed}
        assert {"slot_open", "window_complete", "decision_signed"} <= kinds
        assert "Committee decision" in site.get("/notifications").text
        assert "flagged" not in stat.get("/meeting").text
    finally:
        study.close()
