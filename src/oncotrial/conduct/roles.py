"""Who may do what: the roles of the study and THE permission table, enforced here only.

Every use case of :mod:`oncotrial.conduct` calls :func:`require` before it reads or writes, so the
web pages, the JSON API, the command line and the virtual trial are all held to this one table
(docs/roles.md prints it). Site roles (investigator, coordinator) work at one or more named
sites and see only those sites' subjects; the other roles are central.

The split follows ICH E6(R3) §2-3 (investigator responsibilities: the investigator signs, the
site team enters and answers queries), monitoring (§3.11: source data verification by the
monitor) and data management (§3.16: queries, locks, exports by the sponsor's data managers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from oncotrial.conduct.errors import PermissionDeniedError


class Role(StrEnum):
    """The roles of the study (the store's ``users.role``)."""

    investigator = "investigator"
    coordinator = "coordinator"
    data_manager = "data_manager"
    monitor = "monitor"
    statistician = "statistician"
    committee = "committee"
    admin = "admin"


ROLE_TITLES = {
    Role.investigator: "Site investigator",
    Role.coordinator: "Site coordinator",
    Role.data_manager: "Data manager",
    Role.monitor: "Monitor",
    Role.statistician: "Statistician",
    Role.committee: "Committee member",
    Role.admin: "Administrator",
}

#: Roles bound to named sites; every other role is central (all sites).
SITE_ROLES = frozenset({Role.investigator, Role.coordinator})


class Action(StrEnum):
    """What a user may be allowed to do."""

    view_subjects = "view subjects and their forms"
    enter_data = "screen, enrol and enter or change form data"
    mark_complete = "mark a form complete"
    answer_query = "answer a query"
    open_query = "open a query"
    close_query = "close or re-open a query"
    verify = "source-verify a form"
    lock = "lock or unlock a form"
    sign = "sign a form (e-signature)"
    view_audit = "see the audit trail of a record"
    export_casebook = "print a subject's casebook"
    export_data = "export SDTM and ODM data"
    export_audit = "export the whole audit trail"
    list_queries = "see the queries of every subject it may see"
    adopt_records = "give imported records their forms"
    manage_users = "add, disable and change the role of users"
    manage_sites = "add sites"
    view_phase1 = "see the DLT-window board, the cohorts and the committee's decisions"
    propose_decision = "propose the design's recommendation to the committee"
    choose_dose = "choose the committee's dose, a pause or a stop (with a reason)"
    sign_decision = "e-sign a committee decision"
    view_notifications = "see the study's notifications"
    view_dashboards = "see the enrolment dashboard (by site, over time, against plan)"
    view_results = "see the DLT, swimmer, waterfall and Kaplan–Meier dashboards"


_SITE_STAFF = {Role.investigator, Role.coordinator}
_READERS = {
    Role.investigator,
    Role.coordinator,
    Role.data_manager,
    Role.monitor,
    Role.statistician,
    Role.committee,
}

#: THE permission table: action → roles allowed.
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.view_subjects: frozenset(_READERS),
    Action.enter_data: frozenset(_SITE_STAFF),
    Action.mark_complete: frozenset(_SITE_STAFF),
    Action.answer_query: frozenset(_SITE_STAFF),
    Action.open_query: frozenset({Role.data_manager, Role.monitor}),
    Action.close_query: frozenset({Role.data_manager, Role.monitor}),
    Action.verify: frozenset({Role.monitor}),
    Action.lock: frozenset({Role.data_manager}),
    Action.sign: frozenset({Role.investigator}),
    Action.view_audit: frozenset(_READERS),
    Action.export_casebook: frozenset(
        {Role.investigator, Role.coordinator, Role.data_manager, Role.monitor}
    ),
    Action.export_data: frozenset({Role.data_manager, Role.statistician}),
    Action.export_audit: frozenset({Role.data_manager, Role.admin}),
    Action.list_queries: frozenset(
        {Role.investigator, Role.coordinator, Role.data_manager, Role.monitor}
    ),
    Action.adopt_records: frozenset({Role.data_manager, Role.admin}),
    Action.manage_users: frozenset({Role.admin}),
    Action.manage_sites: frozenset({Role.admin}),
    Action.view_phase1: frozenset(_READERS),
    Action.propose_decision: frozenset({Role.statistician}),
    Action.choose_dose: frozenset({Role.committee, Role.statistician}),
    Action.sign_decision: frozenset({Role.statistician, Role.committee, Role.investigator}),
    Action.view_notifications: frozenset(_READERS),
    # site users see their own sites' patients only (the use cases filter by site)
    Action.view_dashboards: frozenset(_READERS | {Role.admin}),
    Action.view_results: frozenset(_READERS),
}


@dataclass(frozen=True)
class Actor:
    """A signed-in person (or a virtual site user): who, in which role, at which sites."""

    username: str
    role: Role
    full_name: str = ""
    sites: frozenset[str] = field(default_factory=frozenset)
    user_id: int | None = None

    @property
    def central(self) -> bool:
        """Whether the role sees every site."""
        return self.role not in SITE_ROLES

    @property
    def display_name(self) -> str:
        return self.full_name or self.username

    def may(self, action: Action) -> bool:
        """Whether the role may do ``action`` at all (sites aside)."""
        return self.role in PERMISSIONS[action]

    def sees_site(self, site: str | None) -> bool:
        """Whether the actor may see data of ``site``."""
        return self.central or (site is not None and site in self.sites)

    @property
    def site_scope(self) -> str:
        """The database's site scope of this actor (row-level security): ``*`` for central
        roles, the sites joined by commas, or ``-`` (nothing) for a site user without sites."""
        if self.central:
            return "*"
        return ",".join(sorted(self.sites)) or "-"


def require(actor: Actor, action: Action, site: str | None = None) -> None:
    """Refuse (:class:`PermissionDeniedError`) unless ``actor`` may do ``action`` (at ``site``)."""
    if not actor.may(action):
        raise PermissionDeniedError(
            f"{actor.username} ({ROLE_TITLES[actor.role].lower()}) may not {action.value}"
        )
    if site is not None and not actor.sees_site(site):
        raise PermissionDeniedError(f"{actor.username} does not work at site {site}")


def permission_rows() -> list[tuple[str, list[str]]]:
    """The permission table as (action, roles allowed) rows, for docs and the help page."""
    return [
        (action.value, [ROLE_TITLES[r] for r in Role if r in PERMISSIONS[action]])
        for action in Action
    ]
