"""The case report forms of a study, made from its protocol and the SDTM model.

Each form says what it asks and which SDTM records it writes (conventions of SDTMIG v3.4 and of
the virtual trial, so that entered data and virtual data derive the same way):

- SCREEN  informed consent and eligibility (the protocol's criteria): DS "INFORMED CONSENT
          OBTAINED"; one IE record per criterion not met; DS "SCREEN FAILURE" when any is;
- ENROL   enrolment into an open cohort slot (the dose level is the cohort's, never typed):
          DS "ENROLLED";
- DM      demographics and the HCC baseline (Child-Pugh, BCLC, etiology, AFP, ECOG) as DM with
          non-standard variables;
- EX-*    one dosing form per drug: a dosing period of each escalated oral drug (dose,
          frequency, start/end, adjustment), each infusion of each fixed-dose drug;
- AE      an adverse event (CTCAE v5.0 term and grade, seriousness, relatedness to each drug,
          action, outcome, the investigator's DLT assessment);
- TA      a tumour assessment (:mod:`oncotrial.conduct.forms.tumour`);
- ADA     an anti-drug antibody sample (IS ADA_BAB, ADA_NAB);
- FU      a survival follow-up contact (DS, with death recorded on the subject);
- EOT/EOS end of treatment / end of study (DS disposition events).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from oncotrial.conduct.assessments import dlt_conditions
from oncotrial.conduct.forms.model import (
    YES_NO,
    Field,
    FormContext,
    FormDef,
    SdtmRow,
    Values,
    first,
)
from oncotrial.conduct.forms.tumour import tumour_form
from oncotrial.protocol.model import Drug, Protocol
from oncotrial.store.checks import CODELISTS

Stored = Mapping[str, Sequence[Mapping[str, str | None]]]

RACE = (
    "ASIAN",
    "WHITE",
    "BLACK OR AFRICAN AMERICAN",
    "AMERICAN INDIAN OR ALASKA NATIVE",
    "NATIVE HAWAIIAN OR OTHER PACIFIC ISLANDER",
    "MULTIPLE",
    "OTHER",
    "NOT REPORTED",
    "UNKNOWN",
)
ETHNIC = ("HISPANIC OR LATINO", "NOT HISPANIC OR LATINO", "NOT REPORTED", "UNKNOWN")
#: Causality scale of the AE form (WHO-UMC wording; "possibly" or more = related).
RELATEDNESS = (
    "NOT RELATED",
    "UNLIKELY RELATED",
    "POSSIBLY RELATED",
    "PROBABLY RELATED",
    "DEFINITELY RELATED",
)
RELATED_LEVELS = frozenset(RELATEDNESS[2:])
END_OF_TREATMENT_REASONS = (
    "PROGRESSIVE DISEASE",
    "ADVERSE EVENT",
    "DEATH",
    "WITHDRAWAL BY SUBJECT",
    "PHYSICIAN DECISION",
    "LOST TO FOLLOW-UP",
    "COMPLETED",
    "OTHER",
)
END_OF_STUDY_REASONS = (
    "COMPLETED",
    "DEATH",
    "LOST TO FOLLOW-UP",
    "WITHDRAWAL BY SUBJECT",
    "PHYSICIAN DECISION",
    "STUDY TERMINATED BY SPONSOR",
    "OTHER",
)
#: subject status at end of study, by reason
STATUS_AT_END = {
    "COMPLETED": "completed",
    "DEATH": "died",
    "LOST TO FOLLOW-UP": "lost_to_follow_up",
    "WITHDRAWAL BY SUBJECT": "withdrawn",
}


def _choices(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    return tuple((v, v.capitalize() if v.isupper() else v) for v in values)


def _codelist(name: str) -> tuple[tuple[str, str], ...]:
    return _choices(sorted(CODELISTS[name]))


def relatedness_variable(drug: Drug) -> str:
    """The AE variable of the relatedness to one drug (non-standard, ≤ 8 characters)."""
    return f"AEREL{drug.name[:3].upper()}"


def _visit(cycle: str | None) -> tuple[str | None, str | None]:
    if not cycle:
        return None, None
    return str(int(cycle) * 100 + 1), f"CYCLE {int(cycle)} DAY 1"


def _cycle(visitnum: str | None) -> str | None:
    if not visitnum:
        return None
    try:
        return str(int(float(visitnum)) // 100)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------------
# screening and enrolment


def screening_form(protocol: Protocol) -> FormDef:
    """Informed consent and the protocol's eligibility criteria."""
    criteria = []
    if protocol.eligibility is not None:
        criteria = [("INCLUSION", c) for c in protocol.eligibility.inclusion] + [
            ("EXCLUSION", c) for c in protocol.eligibility.exclusion
        ]
    fields = [
        Field("site", "Site", "choice", required=True, help="where the subject is screened"),
        Field("consent_date", "Informed consent signed on", "date", required=True),
    ]
    for category, criterion in criteria:
        question = "met?" if category == "INCLUSION" else "applies?"
        fields.append(
            Field(
                f"crit_{criterion.id}",
                f"{criterion.id} {criterion.text} — {question}",
                "yesno",
                required=True,
            )
        )

    def unmet(category: str, answer: str | None) -> bool:
        return (category == "INCLUSION" and answer == "N") or (
            category == "EXCLUSION" and answer == "Y"
        )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        when = values.get("consent_date")
        rows = [
            SdtmRow("DS")
            .set("DSTERM", "INFORMED CONSENT OBTAINED")
            .set("DSDECOD", "INFORMED CONSENT OBTAINED")
            .set("DSCAT", "PROTOCOL MILESTONE")
            .set("EPOCH", "SCREENING")
            .set("DSSTDTC", when, "consent_date")
        ]
        failed = False
        for category, criterion in criteria:
            name = f"crit_{criterion.id}"
            answer = values.get(name)
            if unmet(category, answer):
                failed = True
                rows.append(
                    SdtmRow("IE")
                    .set("IETESTCD", criterion.id, name)
                    .set("IETEST", criterion.text[:200])
                    .set("IECAT", category)
                    .set("IEORRES", answer, name)
                    .set("IESTRESC", answer, name)
                    .set("VISITNUM", "1")
                    .set("VISIT", "SCREENING")
                    .set("EPOCH", "SCREENING")
                    .set("IEDTC", when, "consent_date")
                )
        if failed:
            rows.append(
                SdtmRow("DS")
                .set("DSTERM", "SCREEN FAILURE")
                .set("DSDECOD", "SCREEN FAILURE")
                .set("DSCAT", "DISPOSITION EVENT")
                .set("EPOCH", "SCREENING")
                .set("DSSTDTC", when, "consent_date")
            )
        return rows

    def from_records(stored: Stored) -> Values:
        consent = first(stored.get("DS", ()), DSDECOD="INFORMED CONSENT OBTAINED")
        unmet_ids = {row.get("IETESTCD") for row in stored.get("IE", ())}
        values: Values = {"consent_date": consent.get("DSSTDTC")}
        for category, criterion in criteria:
            missing = criterion.id in unmet_ids
            values[f"crit_{criterion.id}"] = (
                ("N" if missing else "Y") if category == "INCLUSION" else ("Y" if missing else "N")
            )
        return values

    return FormDef(
        "SCREEN",
        "Screening and consent",
        tuple(fields),
        to_records,
        from_records,
        description="Informed consent and the protocol's eligibility criteria.",
        needs_enrolment=False,
        order=10,
    )


def eligible(values: Values, protocol: Protocol) -> bool:
    """Whether the screening answers meet every inclusion and no exclusion criterion."""
    if protocol.eligibility is None:
        return True
    inclusion = all(values.get(f"crit_{c.id}") == "Y" for c in protocol.eligibility.inclusion)
    exclusion = all(values.get(f"crit_{c.id}") == "N" for c in protocol.eligibility.exclusion)
    return inclusion and exclusion


def enrolment_form() -> FormDef:
    """Enrolment into an open cohort slot; the dose level comes from the cohort."""

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        return [
            SdtmRow("DS")
            .set("DSTERM", "ENROLLED")
            .set("DSDECOD", "ENROLLED")
            .set("DSCAT", "PROTOCOL MILESTONE")
            .set("EPOCH", "SCREENING")
            .set("DSSTDTC", values.get("enrol_date"), "enrol_date")
        ]

    def from_records(stored: Stored) -> Values:
        row = first(stored.get("DS", ()), DSDECOD="ENROLLED")
        return {"enrol_date": row.get("DSSTDTC")}

    return FormDef(
        "ENROL",
        "Enrolment",
        (
            Field("enrol_date", "Enrolled on", "date", required=True),
            Field(
                "cohort",
                "Cohort",
                "choice",
                help="an open cohort slot; the subject takes the cohort's dose level",
            ),
        ),
        to_records,
        from_records,
        description="Enrolment into an open cohort slot (the dose level is the cohort's).",
        needs_enrolment=False,
        order=20,
    )


# ---------------------------------------------------------------------------------------------
# demographics and baseline


def demographics_form() -> FormDef:
    """DM with the HCC baseline as non-standard variables (as the virtual trial writes them)."""
    fields = (
        Field("birth_date", "Date of birth", "date", help="YYYY, YYYY-MM or YYYY-MM-DD"),
        Field("age", "Age at consent", "integer", required=True, unit="years"),
        Field(
            "sex",
            "Sex",
            "choice",
            required=True,
            choices=(("F", "Female"), ("M", "Male")),
            store_checked=True,
        ),
        Field("race", "Race", "choice", choices=_choices(RACE)),
        Field("ethnic", "Ethnicity", "choice", choices=_choices(ETHNIC)),
        Field(
            "etiology",
            "HCC etiology",
            "choice",
            required=True,
            choices=(
                ("HBV", "Hepatitis B"),
                ("HCV", "Hepatitis C"),
                ("HBV/HCV", "Hepatitis B and C"),
                ("NON-VIRAL", "Non-viral"),
            ),
        ),
        Field(
            "bclc",
            "BCLC stage",
            "choice",
            required=True,
            choices=(("A", "A"), ("B", "B"), ("C", "C"), ("D", "D")),
        ),
        Field(
            "child_pugh",
            "Child-Pugh score",
            "choice",
            required=True,
            choices=tuple(
                (f"{cls}{score}", f"{cls} ({score} points)")
                for cls, scores in (("A", (5, 6)), ("B", (7, 8, 9)), ("C", (10, 11, 12)))
                for score in scores
            ),
        ),
        Field("afp", "Alpha-fetoprotein (AFP)", "number", unit="ng/mL"),
        Field(
            "ecog",
            "ECOG performance status",
            "choice",
            choices=tuple((str(i), str(i)) for i in range(5)),
        ),
    )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        subject = ctx.subject
        arm = ctx.extra.get("arm") or {}
        row = (
            SdtmRow("DM")
            .set("SUBJID", ctx.usubjid.split("-")[-1])
            .set("RFICDTC", subject.get("consent_date"))
            .set("SITEID", ctx.site)
            .set("BRTHDTC", values.get("birth_date"), "birth_date")
            .set("AGE", values.get("age"), "age")
            .set("AGEU", "YEARS" if values.get("age") else None)
            .set("SEX", values.get("sex"), "sex")
            .set("RACE", values.get("race"), "race")
            .set("ETHNIC", values.get("ethnic"), "ethnic")
            .set("ARMCD", arm.get("code"))
            .set("ARM", arm.get("name"))
            .set("ACTARMCD", arm.get("code"))
            .set("ACTARM", arm.get("name"))
            .set("COUNTRY", ctx.extra.get("country"))
            .set("ETIOLOGY", values.get("etiology"), "etiology")
            .set("BCLC", values.get("bclc"), "bclc")
            .set("CPCLASS", values.get("child_pugh"), "child_pugh")
            .set("AFP", values.get("afp"), "afp")
            .set("ECOG", values.get("ecog"), "ecog")
        )
        return [row]

    def from_records(stored: Stored) -> Values:
        row = first(stored.get("DM", ()))
        names = {
            "birth_date": "BRTHDTC",
            "age": "AGE",
            "sex": "SEX",
            "race": "RACE",
            "ethnic": "ETHNIC",
            "etiology": "ETIOLOGY",
            "bclc": "BCLC",
            "child_pugh": "CPCLASS",
            "afp": "AFP",
            "ecog": "ECOG",
        }
        return {name: row.get(variable) for name, variable in names.items()}

    return FormDef(
        "DM",
        "Demographics and HCC baseline",
        fields,
        to_records,
        from_records,
        description="Demographics, Child-Pugh, BCLC, etiology, AFP, ECOG.",
        needs_enrolment=False,
        order=30,
    )


# ---------------------------------------------------------------------------------------------
# dosing


def _exposure(drug: Drug, unit: str, values: Values) -> SdtmRow:
    """The EX record's drug, dose, route, cycle and adjustment (dates and frequency apart)."""
    visitnum, visit = _visit(values.get("cycle"))
    return (
        SdtmRow("EX")
        .set("EXTRT", drug.name.upper())
        .set("EXDOSE", values.get("dose"), "dose")
        .set("EXDOSU", unit)
        .set("EXDOSFRM", drug.form.upper())
        .set("EXROUTE", drug.route.upper())
        .set("VISITNUM", visitnum, "cycle")
        .set("VISIT", visit)
        .set("EXADJ", values.get("adjustment"), "adjustment")
    )


def oral_dosing_form(drug: Drug, protocol: Protocol) -> FormDef:
    """A dosing period of an escalated oral drug: dose, frequency, dates, adjustment.

    Interruptions are the gaps between periods; a reduced or re-started period says why.
    """
    unit = protocol.dose_levels[0].doses[drug.name].unit
    frequencies = sorted({level.doses[drug.name].frequency for level in protocol.dose_levels})
    fields = (
        Field("cycle", "Cycle", "integer", required=True),
        Field("start", "First dose of the period", "date", required=True),
        Field("end", "Last dose of the period", "date", help="empty while the period goes on"),
        Field("dose", "Dose per administration", "number", required=True, unit=unit),
        Field(
            "frequency",
            "Frequency",
            "choice",
            required=True,
            choices=tuple((f, f) for f in frequencies),
        ),
        Field(
            "adjustment",
            "Adjustment",
            "choice",
            choices=(
                ("DOSE REDUCED", "Dose reduced"),
                ("DOSE INCREASED", "Dose increased"),
                ("RESUMED AFTER INTERRUPTION", "Resumed after an interruption"),
            ),
            help="leave empty for the planned dose",
        ),
    )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        return [
            _exposure(drug, unit, values)
            .set("EXDOSFRQ", values.get("frequency"), "frequency")
            .set("EXSTDTC", values.get("start"), "start")
            .set("EXENDTC", values.get("end"), "end")
        ]

    def from_records(stored: Stored) -> Values:
        row = first(stored.get("EX", ()))
        return {
            "cycle": _cycle(row.get("VISITNUM")),
            "start": row.get("EXSTDTC"),
            "end": row.get("EXENDTC"),
            "dose": row.get("EXDOSE"),
            "frequency": row.get("EXDOSFRQ"),
            "adjustment": row.get("EXADJ"),
        }

    return FormDef(
        f"EX-{drug.name.upper()}",
        f"{drug.name.capitalize()} dosing period",
        fields,
        to_records,
        from_records,
        repeating=True,
        description=f"{drug.product or drug.name}: {drug.schedule}; one entry per period.",
        order=40,
    )


def infusion_form(drug: Drug) -> FormDef:
    """One administration of a fixed-dose drug (e.g. an infusion)."""
    assert drug.fixed_dose is not None
    dose = drug.fixed_dose

    fields = (
        Field("cycle", "Cycle", "integer", required=True),
        Field("date", "Given on", "date", required=True),
        Field("dose", "Dose given", "number", required=True, unit=dose.unit),
        Field(
            "adjustment",
            "Adjustment",
            "choice",
            choices=(
                ("INFUSION INTERRUPTED", "Infusion interrupted"),
                ("DELAYED", "Delayed"),
            ),
        ),
    )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        return [
            _exposure(drug, dose.unit, values)
            .set("EXDOSFRQ", "ONCE")
            .set("EXSTDTC", values.get("date"), "date")
            .set("EXENDTC", values.get("date"), "date")
        ]

    def from_records(stored: Stored) -> Values:
        row = first(stored.get("EX", ()))
        return {
            "cycle": _cycle(row.get("VISITNUM")),
            "date": row.get("EXSTDTC"),
            "dose": row.get("EXDOSE"),
            "adjustment": row.get("EXADJ"),
        }

    return FormDef(
        f"EX-{drug.name.upper()}",
        f"{drug.name.capitalize()} administration",
        fields,
        to_records,
        from_records,
        repeating=True,
        description=f"{drug.product or drug.name}: {drug.schedule}; one entry per dose.",
        order=41,
    )


# ---------------------------------------------------------------------------------------------
# adverse events


def ae_terms(protocol: Protocol) -> tuple[str, ...]:
    """CTCAE terms to suggest: the protocol's DLT terms and expected adverse events."""
    terms: set[str] = set()
    for criterion in protocol.dlt.criteria:
        terms.update(criterion.terms)
        for exception in criterion.exceptions:
            terms.update(exception.terms)
    if protocol.virtual_trial is not None:
        terms.update(ae.term for ae in protocol.virtual_trial.adverse_events)
    return tuple(sorted(terms))


def adverse_event_form(protocol: Protocol) -> FormDef:
    """An adverse event with CTCAE v5.0 term and grade, relatedness to each drug, and the
    protocol's DLT conditions that cannot be read from the grade (e.g. "with bleeding")."""
    conditions = dlt_conditions(protocol)
    related_fields = tuple(
        Field(
            f"rel_{drug.name}",
            f"Related to {drug.name}?",
            "choice",
            required=True,
            choices=_choices(RELATEDNESS),
        )
        for drug in protocol.drugs
    )
    fields = (
        Field(
            "term",
            f"Term (CTCAE v{protocol.dlt.ctcae_version})",
            required=True,
            suggestions=ae_terms(protocol),
        ),
        Field(
            "grade",
            "CTCAE grade",
            "choice",
            required=True,
            choices=tuple((str(g), str(g)) for g in range(1, 6)),
            store_checked=True,
        ),
        Field("start", "Start date", "date", required=True),
        Field("end", "End date", "date", help="empty while ongoing"),
        Field("serious", "Serious?", "yesno", required=True, store_checked=True),
        *related_fields,
        Field(
            "action",
            "Action taken with study treatment",
            "choice",
            choices=_codelist("AEACN"),
            store_checked=True,
        ),
        Field("outcome", "Outcome", "choice", choices=_codelist("AEOUT"), store_checked=True),
        Field(
            "dlt",
            "Dose-limiting toxicity (investigator)?",
            "yesno",
            help="the system also judges the event against the protocol's DLT definition",
        ),
        *(
            Field(
                f"cond_{criterion.id}",
                f"DLT criterion '{criterion.description or criterion.id}': {criterion.condition}?",
                "yesno",
                help="answer when the event is of this kind",
            )
            for criterion in protocol.dlt.criteria
            if criterion.id in conditions
        ),
    )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        term = values.get("term")
        answers = [values.get(f"rel_{drug.name}") for drug in protocol.drugs]
        overall = None
        if any(a is not None for a in answers):
            overall = "RELATED" if any(a in RELATED_LEVELS for a in answers) else "NOT RELATED"
        soc = ctx.extra.get("soc")
        row = (
            SdtmRow("AE")
            .set("AETERM", None if term is None else term.upper(), "term")
            .set("AEDECOD", term, "term")
            .set("AEBODSYS", soc)
            .set("AESOC", soc)
            .set("AETOXGR", values.get("grade"), "grade")
            .set("AESER", values.get("serious"), "serious")
            .set("AEREL", overall)
            .set("AEACN", values.get("action"), "action")
            .set("AEOUT", values.get("outcome"), "outcome")
            .set("AESTDTC", values.get("start"), "start")
            .set("AEENDTC", values.get("end"), "end")
            .set("AEDLT", values.get("dlt"), "dlt")
        )
        for drug, answer in zip(protocol.drugs, answers, strict=True):
            row.set(relatedness_variable(drug), answer, f"rel_{drug.name}")
        for criterion_id, variable in conditions.items():
            row.set(variable, values.get(f"cond_{criterion_id}"), f"cond_{criterion_id}")
        return [row]

    def from_records(stored: Stored) -> Values:
        row = first(stored.get("AE", ()))
        values: Values = {
            "term": row.get("AEDECOD"),
            "grade": row.get("AETOXGR"),
            "start": row.get("AESTDTC"),
            "end": row.get("AEENDTC"),
            "serious": row.get("AESER"),
            "action": row.get("AEACN"),
            "outcome": row.get("AEOUT"),
            "dlt": row.get("AEDLT"),
        }
        for drug in protocol.drugs:
            values[f"rel_{drug.name}"] = row.get(relatedness_variable(drug))
        for criterion_id, variable in conditions.items():
            values[f"cond_{criterion_id}"] = row.get(variable)
        return values

    return FormDef(
        "AE",
        "Adverse event",
        fields,
        to_records,
        from_records,
        repeating=True,
        description="CTCAE term and grade, seriousness, relatedness, DLT assessment.",
        order=50,
    )


# ---------------------------------------------------------------------------------------------
# anti-drug antibodies


def ada_form(protocol: Protocol) -> FormDef:
    """A serum sample for antibodies against the fixed-dose antibody (binding and
    neutralising), as IS records."""
    antibody = next((d for d in protocol.drugs if d.role == "fixed"), protocol.drugs[0])
    agent = antibody.code or antibody.name.upper()
    fields = (
        Field("cycle", "Cycle", "integer", required=True),
        Field("date", "Sample taken on", "date", required=True),
        Field(
            "binding",
            "Binding ADA",
            "choice",
            required=True,
            choices=(("NEGATIVE", "Negative"), ("POSITIVE", "Positive")),
        ),
        Field("titre", "Titre (when positive)", "number"),
        Field(
            "neutralising",
            "Neutralising ADA",
            "choice",
            choices=(("NEGATIVE", "Negative"), ("POSITIVE", "Positive")),
            help="tested when binding ADA is positive",
        ),
    )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        visitnum, visit = _visit(values.get("cycle"))
        positive = values.get("binding") == "POSITIVE"
        result = values.get("titre") if positive and values.get("titre") else values.get("binding")

        def sample(code: str, name: str) -> SdtmRow:
            return (
                SdtmRow("IS")
                .set("ISTESTCD", code)
                .set("ISTEST", name)
                .set("ISCAT", "IMMUNOGENICITY")
                .set("ISBDAGNT", agent)
                .set("ISSPEC", "SERUM")
                .set("ISBLFL", "Y" if values.get("cycle") == "1" else None)
                .set("VISITNUM", visitnum, "cycle")
                .set("VISIT", visit)
                .set("ISDTC", values.get("date"), "date")
                .set("ISTPT", "PRE-DOSE")
            )

        rows = [
            sample("ADA_BAB", "Binding Antidrug Antibody")
            .set("ISORRES", result, "titre" if positive and values.get("titre") else "binding")
            .set("ISORRESU", "titer" if positive and values.get("titre") else None)
            .set("ISSTRESC", result)
            .set("ISSTRESN", values.get("titre") if positive else None, "titre")
            .set("ISSTRESU", "titer" if positive and values.get("titre") else None)
        ]
        if values.get("neutralising"):
            rows.append(
                sample("ADA_NAB", "Neutralizing Binding Antidrug Antibody")
                .set("ISORRES", values.get("neutralising"), "neutralising")
                .set("ISSTRESC", values.get("neutralising"), "neutralising")
            )
        return rows

    def from_records(stored: Stored) -> Values:
        rows = stored.get("IS", ())
        binding = first(rows, ISTESTCD="ADA_BAB")
        nab = first(rows, ISTESTCD="ADA_NAB")
        result = binding.get("ISORRES")
        positive = result not in (None, "NEGATIVE")
        return {
            "cycle": _cycle(binding.get("VISITNUM")),
            "date": binding.get("ISDTC"),
            "binding": "POSITIVE" if positive else result,
            "titre": binding.get("ISSTRESN") if positive else None,
            "neutralising": nab.get("ISORRES"),
        }

    return FormDef(
        "ADA",
        f"Anti-{agent} antibody sample",
        fields,
        to_records,
        from_records,
        repeating=True,
        description="Binding and neutralising anti-drug antibodies (IS).",
        order=70,
    )


# ---------------------------------------------------------------------------------------------
# follow-up and disposition


def followup_form() -> FormDef:
    """A survival follow-up contact (alive, or death with its date)."""
    fields = (
        Field("date", "Contact on", "date", required=True),
        Field(
            "status",
            "Status",
            "choice",
            required=True,
            choices=(("ALIVE", "Alive"), ("DEATH", "Died")),
        ),
        Field("death_date", "Date of death", "date", help="when the subject died"),
    )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        dead = values.get("status") == "DEATH"
        when = values.get("death_date") if dead else values.get("date")
        return [
            SdtmRow("DS")
            .set("DSTERM", values.get("status"), "status")
            .set("DSDECOD", values.get("status"), "status")
            .set("DSCAT", "OTHER EVENT")
            .set("DSSCAT", "SURVIVAL FOLLOW-UP")
            .set("EPOCH", "FOLLOW-UP")
            .set("DSDTC", values.get("date"), "date")
            .set("DSSTDTC", when, "death_date" if dead else "date")
        ]

    def from_records(stored: Stored) -> Values:
        row = first(stored.get("DS", ()))
        dead = row.get("DSDECOD") == "DEATH"
        return {
            "date": row.get("DSDTC"),
            "status": row.get("DSDECOD"),
            "death_date": row.get("DSSTDTC") if dead else None,
        }

    return FormDef(
        "FU",
        "Survival follow-up",
        fields,
        to_records,
        from_records,
        repeating=True,
        description="Alive at a contact, or death and its date.",
        order=80,
    )


def disposition_form(code: str, title: str, subcategory: str, epoch: str, reasons: Any) -> FormDef:
    """End of treatment or end of study: a DS disposition event with its reason."""
    fields = (
        Field("date", "Date", "date", required=True),
        Field("reason", "Reason", "choice", required=True, choices=_choices(reasons)),
    )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        return [
            SdtmRow("DS")
            .set("DSTERM", values.get("reason"), "reason")
            .set("DSDECOD", values.get("reason"), "reason")
            .set("DSCAT", "DISPOSITION EVENT")
            .set("DSSCAT", subcategory)
            .set("EPOCH", epoch)
            .set("DSSTDTC", values.get("date"), "date")
        ]

    def from_records(stored: Stored) -> Values:
        row = first(stored.get("DS", ()))
        return {"date": row.get("DSSTDTC"), "reason": row.get("DSDECOD")}

    return FormDef(code, title, fields, to_records, from_records, order=90 + len(code))


def study_forms(protocol: Protocol) -> dict[str, FormDef]:
    """Every form of the study, in the order a subject goes through them."""
    forms = [screening_form(protocol), enrolment_form(), demographics_form()]
    for drug in protocol.drugs:
        if drug.role == "escalated":
            forms.append(oral_dosing_form(drug, protocol))
        elif drug.fixed_dose is not None:
            forms.append(infusion_form(drug))
    forms += [
        adverse_event_form(protocol),
        tumour_form(),
        ada_form(protocol),
        followup_form(),
        disposition_form(
            "EOT", "End of treatment", "END OF TREATMENT", "TREATMENT", END_OF_TREATMENT_REASONS
        ),
        disposition_form("EOS", "End of study", "END OF STUDY", "FOLLOW-UP", END_OF_STUDY_REASONS),
    ]
    return {form.code: form for form in sorted(forms, key=lambda f: f.order)}


__all__ = ["YES_NO", "STATUS_AT_END", "eligible", "relatedness_variable", "study_forms"]
