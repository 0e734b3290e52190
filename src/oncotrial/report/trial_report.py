"""The trial report: one self-contained HTML file (figures embedded) a committee can sign and,
when the system has a headless Chromium, the same as PDF.

It states what it was built from — the oncotrial version, the trial's data cut, the head of
the audit trail (sequence and hash of its latest entry) — and every number in it comes from
the derivation layer (:mod:`oncotrial.derive`, :mod:`oncotrial.stats`) run on the ADaM
datasets written beside it; the modules :mod:`~oncotrial.report.population`,
:mod:`~oncotrial.report.efficacy` and :mod:`~oncotrial.report.safety` arrange them for
people, naming every dose level as the protocol does ("L2, donafenib 200 mg bid").
"""

from __future__ import annotations

import base64
import html
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from oncotrial.derive.response import disease_control_rate, objective_response_rate
from oncotrial.protocol.model import Protocol
from oncotrial.report import efficacy, enrolment, panels, population, safety
from oncotrial.report.formatting import LevelNames, table

#: how a decision computed from the store as of its date is named (EscalationStep.source)
LIVE_PATH = "live path"
ESCALATION_HEADERS = {
    "cohort": "Cohort",
    "dose_label": "Dose level",
    "patients": "Patients at the level",
    "dlts": "DLTs at the level",
    "decision": "Decision",
    "reason": "The design's reason",
    "decided": "Decided",
    "confirmed_by": "Confirmed by",
    "source": "Computed from",
}


@dataclass
class EscalationStep:
    """One dose-escalation committee decision, as the report shows it (``dose_label`` is the
    level's full name)."""

    cohort: int
    dose_label: str
    patients: int
    dlts: int
    decision: str
    reason: str
    decided: str = ""
    confirmed_by: str = ""
    #: where the decision came from, e.g. "the trial database as of 2024-05-04 (live path)"
    source: str = ""


@dataclass(frozen=True)
class AuditHead:
    """The latest entry of the audit trail the report was built from."""

    seq: int
    hash: str
    changed_at: str = ""


@dataclass(frozen=True)
class Provenance:
    """What the report was built from: the data cut (and where it was set), the audit head
    and the data source."""

    data_cut: date | None = None
    data_cut_source: str = ""
    audit_head: AuditHead | None = None
    source: str = ""


@dataclass
class ReportResult:
    html: Path
    pdf: Path | None
    pdf_note: str
    summary: dict[str, Any] = field(default_factory=dict)


def package_version() -> str:
    """The installed oncotrial version (``unknown`` outside an installation)."""
    try:
        return version("oncotrial")
    except PackageNotFoundError:
        return "unknown"


def _img(png: bytes) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"data:image/png;base64,{data}"


def build_report(
    protocol: Protocol,
    adam: dict[str, pd.DataFrame],
    out_dir: Path,
    *,
    sdtm: dict[str, pd.DataFrame] | None = None,
    escalation: list[EscalationStep] | None = None,
    recommended_dose: int | None = None,
    stage1: efficacy.Stage1Result | None = None,
    provenance: Provenance = Provenance(),
    secondary_adrs: dict[str, pd.DataFrame] | None = None,
    make_pdf: bool = True,
) -> ReportResult:
    """Write ``report.html`` (and ``report.pdf`` when possible) into ``out_dir``.

    ``adam``: the datasets of :func:`oncotrial.derive.pipeline.derive_study` (``adsl``,
    ``adrs``, ``adtte``, ``adtr``, ``adae``, ``adex``); ``secondary_adrs``: ADRS by other
    criteria, by name (``{"mRECIST": …}``); ``sdtm`` (IS) for the immunogenicity table;
    ``escalation`` the committee's decisions in order; ``recommended_dose`` the RP2D (0-based
    level); ``stage1`` the recorded Simon stage-1 analysis.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    levels = LevelNames(protocol)
    adsl = adam["adsl"]
    summary: dict[str, Any] = {"subjects": int(len(adsl)), "version": package_version()}
    head = provenance.audit_head
    ctx: dict[str, Any] = {
        "protocol": protocol,
        "version": summary["version"],
        "data_cut": provenance.data_cut.isoformat() if provenance.data_cut else "",
        "data_cut_source": provenance.data_cut_source,
        "audit_head": head,
        "source": provenance.source,
        "generated": date.today().isoformat(),
        "rp2d": "" if recommended_dose is None else levels.full(recommended_dose),
        "tables": {},
        "figures": {},
    }
    tables, figures = ctx["tables"], ctx["figures"]
    summary["data_cut"] = ctx["data_cut"]
    summary["audit_head"] = None if head is None else {"seq": head.seq, "hash": head.hash}
    # study population
    tables["enrolment"] = table(
        population.enrolment_table(adsl, levels), "enrolment", first_column="Dose level"
    )
    tables["demographics"] = table(
        population.demographics_table(adsl, levels), "demographics", first_column=""
    )
    tables["disposition"] = table(
        population.disposition_table(adsl, levels), "disposition", first_column=""
    )
    if sdtm and "ds" in sdtm:
        enrolled = enrolment.enrolled_of_adsl(adsl, sdtm["ds"])
        plan = enrolment.EnrolmentPlan.of(protocol)
        sites = sorted(set(enrolled["site"]))
        as_of = provenance.data_cut or date.today()
        monthly = enrolment.monthly_enrolment(enrolled, sites, plan, as_of)
        png = enrolment.enrolment_png(monthly, sites, plan)
        if png is not None:
            figures["enrolment"] = _img(png)
    if "adex" in adam:
        exposure = population.exposure_table(adam["adex"], adsl, levels, protocol)
        tables["exposure"] = table(exposure, "exposure", first_column="")
    if "adtte" in adam:
        followup = population.median_followup_text(adam["adtte"])
        if followup is not None:
            ctx["followup"] = followup[0]
            summary["median_followup_months"] = followup[1]
    # phase I
    dlt = panels.dlt_tables(adam, protocol)
    if escalation:
        steps = pd.DataFrame([s.__dict__ for s in escalation])
        tables["escalation"] = table(
            steps.rename(columns=ESCALATION_HEADERS), "escalation", text=True
        )
        live = sum(f"({LIVE_PATH})" in s.source for s in escalation)
        ctx["escalation_source"] = (
            f"{live} of {len(escalation)} decisions were computed from the trial database as "
            f"of their date ({LIVE_PATH}); the others are decisions recorded without that "
            "computation."
            if live < len(escalation)
            else f"Every decision was computed from the trial database as of its date "
            f"({LIVE_PATH}) and signed by the committee."
        )
        ctx["escalation_plot"] = _img(panels.escalation_png(adam, protocol, dlt))
    if dlt is not None:
        tables["dlt"] = table(dlt.table, "dlt", first_column="Dose level")
        if not dlt.listing.empty:
            tables["dlt_listing"] = table(dlt.listing, "dlt-listing", text=True)
    # efficacy
    if "adrs" in adam:
        _efficacy(
            adam, protocol, secondary_adrs or {}, levels, recommended_dose, stage1, ctx, summary
        )
    fitted = panels.survival(adam)
    if fitted is not None:
        tables["survival"] = table(fitted.table, "survival", first_column="Endpoint")
        summary["km"] = efficacy.summary_rows(fitted.table)
        for paramcd, fit in fitted.fits.items():
            figures[f"km_{paramcd}"] = _img(panels.km_png(paramcd, fit))
    # immunogenicity
    if sdtm and "is" in sdtm:
        ada, overall = safety.ada_table(sdtm["is"], adsl, levels)
        tables["ada"] = table(ada, "ada", first_column="")
        summary["ada"] = overall
    # safety
    if "adae" in adam:
        adae = adam["adae"]
        tables["ae_overview"] = table(
            safety.ae_overview_table(adae, adsl, levels), "ae-overview", first_column=""
        )
        tables["ae_grades"] = table(
            safety.ae_grade_table_by_level(adae, adsl, levels),
            "ae-grades",
            first_column="Preferred term",
        )
        serious = safety.serious_ae_listing(adae, adsl, levels)
        tables["sae"] = table(serious, "sae-listing", text=True) if len(serious) else ""
    if "adtte" in adam:
        deaths = safety.death_listing(adsl, adam["adtte"], levels)
        tables["deaths"] = table(deaths, "death-listing", text=True) if len(deaths) else ""
    env = Environment(
        loader=PackageLoader("oncotrial.report", "templates"),
        autoescape=select_autoescape(["html"]),
    )
    page = env.get_template("report.html.j2").render(**ctx)
    html_path = out_dir / "report.html"
    html_path.write_text(page, encoding="utf-8")
    pdf_path, note = (None, "PDF not requested")
    if make_pdf:
        pdf_path, note = html_to_pdf(html_path)
    return ReportResult(html_path, pdf_path, note, summary)


def _efficacy(
    adam: dict[str, pd.DataFrame],
    protocol: Protocol,
    secondary: dict[str, pd.DataFrame],
    levels: LevelNames,
    rp2d: int | None,
    stage1: efficacy.Stage1Result | None,
    ctx: dict[str, Any],
    summary: dict[str, Any],
) -> None:
    tables, figures = ctx["tables"], ctx["figures"]
    adsl, adrs = adam["adsl"], adam["adrs"]
    primary = panels.primary_criteria(adrs)
    by_criteria = {primary or "primary": adrs, **secondary}
    groups = efficacy.EfficacyGroups.of(adsl, levels, rp2d)
    tables["response_rates"] = table(
        efficacy.response_rates_table(by_criteria, groups), "response-rates", first_column=""
    )
    summary["orr"] = objective_response_rate(adrs).to_json()
    summary["dcr"] = disease_control_rate(adrs).to_json()
    summary["orr_by_criteria"] = {
        name: objective_response_rate(data).to_json() for name, data in by_criteria.items()
    }
    for name, data in by_criteria.items():
        key = "bor" if data is adrs else f"bor_{name.lower()}"
        tables[key] = table(
            efficacy.best_response_table(data, adsl, levels),
            key.replace("_", "-"),
            caption=f"Confirmed best overall response, {name}",
            first_column="",
        )
    if stage1 is not None:
        tables["stage1"] = table(
            efficacy.stage1_table(stage1, adrs), "stage1", first_column="", text=True
        )
        summary["stage1"] = {"responders": stage1.responders, "decision": stage1.decision}
    for name, png in (
        ("waterfall", panels.waterfall_png(adam)),
        ("spider", panels.spider_png(adam)),
        ("swimmer", panels.swimmer_png(adam, protocol)),
    ):
        if png is not None:
            figures[name] = _img(png)


def html_to_pdf(html_path: Path) -> tuple[Path | None, str]:
    """Print the HTML to PDF with a headless Chromium if one is installed; otherwise say so."""
    browser = next(
        (
            shutil.which(b)
            for b in ("chromium", "chromium-browser", "google-chrome")
            if shutil.which(b)
        ),
        None,
    )
    if browser is None:
        return None, "no PDF: no Chromium on this system (apt-get install chromium)"
    pdf = html_path.with_suffix(".pdf")
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tempfile.mkdtemp(prefix='oncotrial-chromium-')}",
        "--no-pdf-header-footer",
        f"--print-to-pdf={pdf}",
        html_path.resolve().as_uri(),
    ]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    except (subprocess.SubprocessError, OSError) as exc:
        return None, f"no PDF: Chromium failed ({html.escape(str(exc))[:200]})"
    return (pdf, "PDF printed by headless Chromium") if pdf.exists() else (None, "no PDF made")
