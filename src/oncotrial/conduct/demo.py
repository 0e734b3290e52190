"""Demo accounts for the shipped study: a few named users per role at the virtual trial's sites,
so that ``oncotrial serve --db demo/trial.db`` can be tried at once. Never for a real study: the
password is printed."""

from __future__ import annotations

from dataclasses import dataclass

from oncotrial.conduct import accounts
from oncotrial.conduct.roles import ROLE_TITLES, Role
from oncotrial.conduct.study import Study

DEMO_PASSWORD = "demo-password-2026"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str
    sites: tuple[str, ...]
    password: str


def adopt_demo_records(study: Study) -> int:
    """Forms for the virtual trial's records, so the demo's subjects can be browsed, queried
    and signed in the application."""
    from oncotrial.conduct.adopt import adopt_records

    return adopt_records(study, study.system_actor("demo-setup"))


def create_demo_users(study: Study) -> list[DemoUser]:
    """An investigator and a coordinator at each of the first two sites, and one user of each
    central role; the sites are those already in the study (added when missing)."""
    admin = study.system_actor("demo-setup")
    sites = [s.code for s in accounts.list_sites(study, admin)]
    if not sites:
        accounts.add_site(study, admin, "01", name="Demo site")
        sites = ["01"]
    plan: list[tuple[str, Role, tuple[str, ...], str]] = []
    for code in sites[:2]:
        plan.append((f"inv{code}", Role.investigator, (code,), f"Dr Investigator {code}"))
        plan.append((f"crc{code}", Role.coordinator, (code,), f"Coordinator {code}"))
    for username, role in (
        ("datamanager", Role.data_manager),
        ("monitor", Role.monitor),
        ("statistician", Role.statistician),
        ("committee", Role.committee),
        ("admin", Role.admin),
    ):
        plan.append((username, role, (), f"Demo {ROLE_TITLES[role].lower()}"))
    made = []
    for username, role, codes, name in plan:
        accounts.add_user(
            study, admin, username, role, DEMO_PASSWORD, full_name=name, sites=list(codes)
        )
        made.append(DemoUser(username, ROLE_TITLES[role], codes, DEMO_PASSWORD))
    return made
