"""What a dashboard is computed from: the store as one site scope sees it at one audit head.

A :class:`Snapshot` holds the subject register (with each subject's phase and enrolment
date), the sites' names and the SDTM domains, read in :meth:`Study.reading` (the database's
site scope; row-level security on PostgreSQL) and through the application's own site filter
(SQLite has no row-level security) — so a site user's snapshot holds only the patients of that
user's sites. Snapshots are kept per audit head (every write moves it); their ADaM datasets
(:func:`oncotrial.report.panels.derive`, seconds for a whole trial) and figures are derived on
first use and shared by every snapshot of the same content.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select

from oncotrial.conduct.errors import NotFoundError
from oncotrial.conduct.roles import Action, Actor, require
from oncotrial.conduct.study import Study
from oncotrial.derive.errors import DataError
from oncotrial.derive.pipeline import DerivedStudy
from oncotrial.protocol.model import Protocol
from oncotrial.report import panels
from oncotrial.report.enrolment import enrolment_dates
from oncotrial.sim.trial_run import sdtm_from_store
from oncotrial.store.chain import AuditHead
from oncotrial.store.models import Cohort, Site

#: How many snapshots (and derivations) are kept.
CACHE_SIZE = 16


@dataclass
class _Derivation:
    """The ADaM datasets and figures of one content of the store (derived on first use)."""

    protocol: Protocol
    sdtm: dict[str, pd.DataFrame]
    derived: DerivedStudy | None = None
    problem: str = ""
    done: bool = False
    figures: dict[str, bytes | None] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> tuple[DerivedStudy | None, str]:
        with self.lock:
            if not self.done:
                self.derived, self.problem = self._derive()
                self.done = True
        return self.derived, self.problem

    def _derive(self) -> tuple[DerivedStudy | None, str]:
        ex = self.sdtm.get("ex")
        if ex is None or ex.empty:
            return None, "no patient has been dosed yet"
        if "dm" not in self.sdtm:
            return None, "no demographics form (DM) saved yet: the analysis starts from DM"
        try:
            return panels.derive(self.protocol, self.sdtm), ""
        except DataError as exc:
            return None, f"the analysis datasets cannot be derived yet: {exc}"


@dataclass
class Snapshot:
    """What the store held at one audit head, as one site scope sees it: the subject register
    (with each subject's phase and enrolment date), the sites' names and the SDTM domains.

    Their ADaM datasets and figures are derived on first use and shared by every snapshot of
    the same content (``digest``): a write that changes no clinical data (a login, an export,
    a query) moves the audit head, costs a re-read and no re-derivation.
    """

    head: AuditHead
    scope: str
    subjects: pd.DataFrame
    sites: dict[str, str]
    sdtm: dict[str, pd.DataFrame]
    digest: str
    work: _Derivation

    def derived(self) -> tuple[DerivedStudy | None, str]:
        """The ADaM datasets (None when there are none yet) and, if so, why."""
        return self.work.run()

    def figure(self, name: str, draw: Callable[[], bytes | None]) -> bytes | None:
        with self.work.lock:
            if name not in self.work.figures:
                self.work.figures[name] = draw()
            return self.work.figures[name]


class _Lru:
    """A few recent items by key; least recently used out."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: Any) -> Any:
        """Keep ``value`` under ``key`` unless one is there already; the one kept."""
        with self.lock:
            value = self.items.setdefault(key, value)
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
            return value


#: snapshots by (study, scope, audit head); derivations by (study, scope, content digest)
_SNAPSHOTS = _Lru()
_DERIVATIONS = _Lru()


def _digest(frames: dict[str, pd.DataFrame]) -> str:
    """SHA-256 of the frames' names, columns and cells (nulls told apart from any text)."""
    digest = hashlib.sha256()
    for name, frame in sorted(frames.items()):
        digest.update(f"{name}\x1e{chr(31).join(map(str, frame.columns))}\x1e".encode())
        cells = frame.astype(object).where(frame.notna(), "\x00").astype(str)
        digest.update(pd.util.hash_pandas_object(cells, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def check_scope(study: Study, actor: Actor, site: str | None, action: Action) -> str:
    """Check the permission (and the site) and name the scope: ``*`` or the sites' codes."""
    require(actor, action, site)
    if site is not None:
        with study.reading(actor) as (_, session):
            if session.scalar(select(Site.id).where(Site.code == site)) is None:
                raise NotFoundError(f"no site '{site}'")
        return site
    return actor.site_scope


def snapshot(study: Study, actor: Actor, site: str | None = None) -> Snapshot:
    """The store as ``actor`` sees it now (only ``site`` when given), read once per audit head
    and scope. The head is read before and after the data: a snapshot a write overtook is used
    once and not kept."""
    scope = check_scope(study, actor, site, Action.view_dashboards)
    wanted = None if scope == "*" else set(scope.split(","))
    with study.reading(actor) as (store, session):
        head = store.audit_head()
        key = (id(study), str(study.engine.url), scope, head.seq, head.hash)
        found = _SNAPSHOTS.get(key)
        if found is not None:
            return found
        register = store.subjects()
        seen = register["site"].map(
            lambda s: actor.sees_site(s) and (wanted is None or s in wanted)
        )
        register = register[seen.astype(bool)].reset_index(drop=True)
        phases = dict(session.execute(select(Cohort.number, Cohort.phase)).all())
        sites = {
            code: name or code
            for code, name in session.execute(select(Site.code, Site.name)).all()
            if actor.sees_site(code) and (wanted is None or code in wanted)
        }
        ids = set(register["usubjid"])
        sdtm = {}
        for name, frame in sdtm_from_store(store).items():
            mine = frame[frame["USUBJID"].isin(ids)].reset_index(drop=True)
            if not mine.empty:
                sdtm[name] = mine
        still = store.audit_head()
    register["phase"] = register["cohort"].map(lambda c: phases.get(c) if c is not None else None)
    register["enrolled_on"] = register["usubjid"].map(enrolment_dates(sdtm.get("ds")))
    names = pd.DataFrame({"code": list(sites), "name": list(sites.values())})
    digest = _digest({**sdtm, "_register": register, "_sites": names})
    work = _Derivation(study.protocol, sdtm)
    if still == head:
        work = _DERIVATIONS.put((key[0], key[1], scope, digest), work)
    made = Snapshot(head, scope, register, sites, sdtm, digest, work)
    if still == head:
        made = _SNAPSHOTS.put(key, made)
    return made


def scope_name(scope: str) -> str:
    if scope == "*":
        return "all sites"
    codes = scope.split(",")
    return ("site " if len(codes) == 1 else "sites ") + ", ".join(codes)
