"""The treatment forms of a study, from its protocol: a dosing period of each escalated oral
drug, each administration of each fixed-dose drug (SDTM EX); an adverse event with CTCAE v5.0
term and grade, relatedness to each drug and the protocol's DLT conditions (AE); an anti-drug
antibody sample (IS ADA_BAB, ADA_NAB)."""

from __future__ import annotations

from oncotrial.cdisc.terms import CODELISTS
from oncotrial.conduct.assessments import dlt_conditions
from oncotrial.conduct.forms.model import (
    Field,
    FormContext,
    FormDef,
    SdtmRow,
    Stored,
    Values,
    choices_of,
    cycle_visit,
    first,
    visit_cycle,
)
from oncotrial.protocol.model import Drug, Protocol

#: Causality scale of the AE form (WHO-UMC wording; "possibly" or more = related).
RELATEDNESS = (
    "NOT RELATED",
    "UNLIKELY RELATED",
    "POSSIBLY RELATED",
    "PROBABLY RELATED",
    "DEFINITELY RELATED",
)
RELATED_LEVELS = frozenset(RELATEDNESS[2:])


def relatedness_variable(drug: Drug) -> str:
    """The AE variable of the relatedness to one drug (non-standard, ≤ 8 characters)."""
    return f"AEREL{drug.name[:3].upper()}"


def _codelist(name: str) -> tuple[tuple[str, str], ...]:
    return choices_of(sorted(CODELISTS[name]))


def _exposure(drug: Drug, unit: str, values: Values) -> SdtmRow:
    """The EX record's drug, dose, route, cycle and adjustment (dates and frequency apart)."""
    visitnum, visit = cycle_visit(values.get("cycle"))
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
            "cycle": visit_cycle(row.get("VISITNUM")),
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
            "cycle": visit_cycle(row.get("VISITNUM")),
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
            choices=choices_of(RELATEDNESS),
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
        visitnum, visit = cycle_visit(values.get("cycle"))
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
            "cycle": visit_cycle(binding.get("VISITNUM")),
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
