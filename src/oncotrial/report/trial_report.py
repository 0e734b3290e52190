"""The trial report: one self-contained HTML file (figures embedded) and, when the system has
a headless Chromium, the same as PDF.

Every number comes from the endpoint layer (``oncotrial.derive`` and ``oncotrial.stats``) run
on the ADaM datasets; this module only arranges tables and figures for people.
"""

from __future__ import annotations

import base64
import html
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape

from oncotrial.derive.ada import ada_incidence, ada_samples, ada_subject_status
from oncotrial.derive.response import disease_control_rate, objective_response_rate
from oncotrial.derive.safety import ae_grade_table, ae_overview, dlt_summary, evaluate_dlt
from oncotrial.protocol.model import Protocol
from oncotrial.report.figures import (
    plot_dose_escalation,
    plot_spider,
    plot_swimmer,
    plot_waterfall,
)
from oncotrial.report.km_plot import plot_km
from oncotrial.stats.survival import kaplan_meier, median_followup

DAYS_PER_MONTH = 30.4375
ESCALATION_HEADERS = {
    "cohort": "cohort",
    "dose_label": "dose level",
    "patients": "patients at the level",
    "dlts": "DLTs at the level",
    "decision": "decision",
    "reason": "the design's reason",
    "decided": "decided",
    "confirmed_by": "confirmed by",
}


@dataclass
class EscalationStep:
    """One dose-escalation committee decision, as the report shows it."""

    cohort: int
    dose_label: str
    patients: int
    dlts: int
    decision: str
    reason: str
    decided: str = ""
    confirmed_by: str = ""


@dataclass
class ReportResult:
    html: Path
    pdf: Path | None
    pdf_note: str
    summary: dict[str, Any] = field(default_factory=dict)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"data:image/png;base64,{data}"


def _table(frame: pd.DataFrame, *, index: bool = False) -> str:
    return frame.to_html(index=index, border=0, classes="data", na_rep="", escape=True)


def _pct(p: float) -> str:
    return "—" if p is None or (isinstance(p, float) and np.isnan(p)) else f"{100 * p:.1f} %"


def _dose_labels(adsl: pd.DataFrame, protocol: Protocol) -> pd.Series:
    """Each subject's dose level as the protocol names it (ACTARMCD L1, LM1 → 'L1', 'L-1')."""
    codes = adsl.get("ACTARMCD", adsl.get("ARMCD", pd.Series("", index=adsl.index)))
    return codes.astype(str).str.replace("LM", "L-", regex=False)


def _count_ci(row: Any) -> str:
    """x/n (percent; exact 95 % CI)."""
    if not row.n:
        return "—"
    return (
        f"{row.x}/{row.n} ({100 * row.estimate:.0f} %; {100 * row.lower:.0f}–{100 * row.upper:.0f})"
    )


def _grade_pivot(grades: pd.DataFrame, top: int = 25) -> pd.DataFrame:
    """Preferred terms (most frequent first) × dose level: patients with the term at any grade
    and at grade ≥ 3, from :func:`oncotrial.derive.safety.ae_grade_table`'s long table."""
    terms = grades[grades["AEDECOD"].astype(str).ne("") & grades["grade"].isin(["any", ">=3"])]
    cells = terms.assign(
        cell=[f"{r.n} ({r.pct:.0f} %)" for r in terms.itertuples()],
        column=[
            f"{g} {'any' if k == 'any' else '≥3'}"
            for g, k in zip(terms["group"], terms["grade"], strict=True)
        ],
    )
    table = cells.pivot_table(
        index="AEDECOD", columns="column", values="cell", aggfunc="first", sort=False
    )
    total_any = terms[(terms["group"] == "Total") & (terms["grade"] == "any")]
    order = total_any.sort_values("n", ascending=False)["AEDECOD"]
    order = [t for t in order if t in table.index and t != "Any"]
    table = table.loc[(["Any"] if "Any" in table.index else []) + order[:top]]
    table.index.name = "patients with (% of dose level)"
    return table


def _rate(p: Any) -> str:
    """x/n = estimate (95 % CI lower–upper), exact Clopper–Pearson."""
    return f"{p.x}/{p.n} = {_pct(p.estimate)} (95 % CI {_pct(p.lower)}–{_pct(p.upper)})"


def _months(days: pd.Series) -> pd.Series:
    return pd.to_numeric(days, errors="coerce") / DAYS_PER_MONTH


def _km_section(adtte: pd.DataFrame, tmp: Path) -> tuple[list[dict], dict[str, str]]:
    rows, figures = [], {}
    labels = {"OS": "Overall survival", "PFS": "Progression-free survival"}
    for paramcd, label in labels.items():
        data = adtte[adtte["PARAMCD"] == paramcd]
        if data.empty:
            continue
        months = _months(data["AVAL"]).to_numpy()
        event = (pd.to_numeric(data["CNSR"]) == 0).to_numpy()
        fit = kaplan_meier(months, event, label=label)
        median = fit.median()
        at = {m: s for m, s in zip((6, 12), fit.at([6, 12]), strict=True)}
        rows.append(
            {
                "endpoint": label,
                "n": fit.n,
                "events": int(fit.events),
                "median": "NR" if np.isnan(median.time) else f"{median.time:.1f}",
                "ci": (
                    f"{'NR' if np.isnan(median.lower) else f'{median.lower:.1f}'}–"
                    f"{'NR' if np.isnan(median.upper) else f'{median.upper:.1f}'}"
                ),
                "m6": _landmark(at[6]),
                "m12": _landmark(at[12]),
            }
        )
        path = plot_km(
            {label: fit},
            tmp / f"km_{paramcd}.png",
            conf_int=True,
            risk_times=list(range(0, 19, 3)),
            xlabel="Months since first dose",
            title=f"{label} (Kaplan–Meier, 95 % CI log scale)",
            xmax=18.5,
        )
        figures[paramcd] = _img(path)
    return rows, figures


def _landmark(point: Any) -> str:
    if point is None or np.isnan(point.surv):
        return "—"
    return f"{100 * point.surv:.1f} % ({100 * point.lower:.1f}–{100 * point.upper:.1f})"


def build_report(
    protocol: Protocol,
    adam: dict[str, pd.DataFrame],
    out_dir: Path,
    *,
    sdtm: dict[str, pd.DataFrame] | None = None,
    escalation: list[EscalationStep] | None = None,
    recommended_dose: str | None = None,
    data_cut: date | None = None,
    source: str = "",
    make_pdf: bool = True,
) -> ReportResult:
    """Write ``report.html`` (and ``report.pdf`` when possible) into ``out_dir``.

    ``adam``: the datasets of :func:`oncotrial.derive.pipeline.derive_study`; ``sdtm`` (IS)
    for the immunogenicity tables; ``escalation``: the committee's decisions in order.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    adsl = adam["adsl"].copy()
    adsl["DOSE"] = _dose_labels(adsl, protocol)
    level_order = [f"L{label}" for label in protocol.level_labels]
    phase = adsl.get("PHASE", pd.Series("", index=adsl.index)).astype(str)
    summary: dict[str, Any] = {"subjects": int(len(adsl))}
    ctx: dict[str, Any] = {
        "protocol": protocol,
        "source": source,
        "data_cut": data_cut.isoformat() if data_cut else "",
        "generated": date.today().isoformat(),
        "recommended_dose": recommended_dose or "",
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # study summary
        counts = adsl.groupby([phase.rename("phase"), adsl["DOSE"]]).size().rename("patients")
        ctx["enrolment"] = _table(counts.reset_index())
        if "adtte" in adam:
            os_rows = adam["adtte"][adam["adtte"]["PARAMCD"] == "OS"]
            fu = median_followup(
                _months(os_rows["AVAL"]).to_numpy(),
                (pd.to_numeric(os_rows["CNSR"]) == 0).to_numpy(),
            )
            ctx["followup"] = f"{fu.time:.1f} months (reverse Kaplan–Meier)"
            summary["median_followup_months"] = float(fu.time)
        # phase I
        if escalation:
            steps = pd.DataFrame([s.__dict__ for s in escalation])
            ctx["escalation"] = _table(steps.rename(columns=ESCALATION_HEADERS))
            treated = adsl[phase.eq("I") | phase.eq("")]
            if "TRTSDT" in treated and len(treated):
                dlt_subjects = set()
                if "adae" in adam and "AEDLT" in adam["adae"].columns:
                    dlt_subjects = set(adam["adae"].loc[adam["adae"]["AEDLT"] == "Y", "USUBJID"])
                patients = pd.DataFrame(
                    {
                        "subject": treated["USUBJID"],
                        "start": pd.to_datetime(treated["TRTSDT"]),
                        "dose_index": [
                            level_order.index(d) if d in level_order else 0 for d in treated["DOSE"]
                        ],
                        "dlt": treated["USUBJID"].isin(dlt_subjects),
                        "cohort": treated.get("COHORT", ""),
                    }
                )
                ctx["escalation_plot"] = _img(
                    plot_dose_escalation(
                        patients, level_order, tmp / "escalation.png", protocol.dlt.window_days
                    )
                )
        if "adae" in adam:
            dlt = evaluate_dlt(adam["adae"], protocol.dlt)
            phase1 = adsl[phase.eq("I")] if phase.eq("I").any() else adsl
            table = dlt_summary(dlt, phase1, group="DOSE")
            ctx["dlt_table"] = _table(table)
            flagged = dlt[(dlt["DLTFL"] == "Y") & dlt["USUBJID"].isin(phase1["USUBJID"])]
            if not flagged.empty:
                flagged = flagged.merge(adsl[["USUBJID", "DOSE"]], on="USUBJID", how="left")
                cols = ["USUBJID", "DOSE", "AEDECOD", "ATOXGRN", "DLTDY", "DLTREAS"]
                ctx["dlt_list"] = _table(flagged[[c for c in cols if c in flagged.columns]])
        # efficacy
        if "adrs" in adam:
            adrs = adam["adrs"]
            orr = objective_response_rate(adrs)
            dcr = disease_control_rate(adrs)
            summary["orr"] = orr.to_json()
            summary["dcr"] = dcr.to_json()
            ctx["orr"] = _rate(orr)
            ctx["dcr"] = _rate(dcr)
            cbor = adrs[adrs["PARAMCD"] == "CBOR"][["USUBJID", "AVALC"]]
            cbor = cbor.merge(adsl[["USUBJID", "DOSE"]], on="USUBJID", how="left")
            bor_table = pd.crosstab(cbor["AVALC"], cbor["DOSE"], margins=True, margins_name="All")
            ctx["bor_table"] = _table(bor_table, index=True)
            if "adtr" in adam and not adam["adtr"].empty:
                adtr = adam["adtr"]
                post = adtr[adtr["ABLFL"] != "Y"].copy()
                post = post.dropna(subset=["PCHG"])
                best = post.sort_values("PCHG").groupby("USUBJID").head(1)
                best = best.merge(cbor.rename(columns={"AVALC": "bor"}), on="USUBJID", how="left")
                ctx["waterfall"] = _img(
                    plot_waterfall(
                        best.rename(columns={"USUBJID": "subject", "PCHG": "best_pchg"}),
                        tmp / "waterfall.png",
                    )
                )
                start = pd.to_datetime(adsl.set_index("USUBJID")["TRTSDT"])
                post["week"] = (
                    pd.to_datetime(post["ADT"]) - post["USUBJID"].map(start)
                ).dt.days / 7
                post = post.merge(cbor.rename(columns={"AVALC": "bor"}), on="USUBJID", how="left")
                ctx["spider"] = _img(
                    plot_spider(
                        post.rename(columns={"USUBJID": "subject", "PCHG": "pchg"}),
                        tmp / "spider.png",
                    )
                )
            ctx["swimmer"] = _img(plot_swimmer(_swimmer_lanes(adsl, adam), tmp / "swimmer.png"))
        if "adtte" in adam:
            ctx["km_rows"], ctx["km_figures"] = _km_section(adam["adtte"], tmp)
            summary["km"] = ctx["km_rows"]
        # immunogenicity
        if sdtm and "is" in sdtm:
            status = ada_subject_status(ada_samples(sdtm["is"], adam["adsl"]))
            status = status.merge(adsl[["USUBJID", "DOSE"]], on="USUBJID", how="left")
            by_dose = ada_incidence(status, by="DOSE")
            by_dose["cell"] = [_count_ci(r) for r in by_dose.itertuples()]
            overall = ada_incidence(status)
            overall["group"] = "All"
            overall["cell"] = [_count_ci(r) for r in overall.itertuples()]
            both = pd.concat([by_dose, overall])
            ctx["ada_table"] = _table(
                both.pivot_table(
                    index="measure", columns="group", values="cell", aggfunc="first", sort=False
                ),
                index=True,
            )
            overall = ada_incidence(status)
            summary["ada"] = overall.to_dict(orient="records")
        # safety
        if "adae" in adam:
            overview = ae_overview(adam["adae"], adsl, group="DOSE")
            overview["cell"] = [f"{r.n}/{r.N} ({r.pct:.0f} %)" for r in overview.itertuples()]
            ctx["ae_overview"] = _table(
                overview.pivot_table(
                    index="category", columns="group", values="cell", aggfunc="first", sort=False
                ),
                index=True,
            )
            grades = ae_grade_table(adam["adae"], adsl, group="DOSE")
            ctx["ae_grades"] = _table(_grade_pivot(grades), index=True)
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


def _swimmer_lanes(adsl: pd.DataFrame, adam: dict[str, pd.DataFrame]) -> pd.DataFrame:
    start = pd.to_datetime(adsl["TRTSDT"])
    end_trt = pd.to_datetime(adsl.get("TRTEDT", adsl["TRTSDT"]))
    last = pd.to_datetime(adsl.get("LSTALVDT", adsl.get("TRTEDT")))
    death = pd.to_datetime(adsl.get("DTHDT", pd.Series(pd.NaT, index=adsl.index)))
    on_study = ((death.fillna(last) - start).dt.days / DAYS_PER_MONTH).clip(lower=0)
    lanes = pd.DataFrame(
        {
            "subject": adsl["USUBJID"],
            "dose": adsl["DOSE"],
            "on_treatment": ((end_trt - start).dt.days / DAYS_PER_MONTH).clip(lower=0),
            "on_study": on_study,
            "death": (death - start).dt.days / DAYS_PER_MONTH,
            "ongoing": death.isna()
            & adsl.get("EOSSTT", pd.Series("", index=adsl.index)).ne("DISCONTINUED"),
        }
    )
    adrs = adam.get("adrs")
    lanes["response"] = np.nan
    lanes["progression"] = np.nan
    if adrs is not None:
        first = start.set_axis(adsl["USUBJID"])
        for param, column in (("RSP", "response"), ("PD", "progression")):
            rows = adrs[(adrs["PARAMCD"] == param) & (adrs["AVALC"] == "Y")]
            when = (pd.to_datetime(rows["ADT"]) - rows["USUBJID"].map(first)).dt.days
            lanes[column] = lanes["subject"].map(
                pd.Series((when / DAYS_PER_MONTH).to_numpy(), index=rows["USUBJID"])
            )
    return lanes


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
