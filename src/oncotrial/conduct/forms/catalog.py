"""The case report forms of a study, made from its protocol and the SDTM model (the treatment
forms are in :mod:`oncotrial.conduct.forms.treatment`, the tumour assessment in
:mod:`oncotrial.conduct.forms.tumour`).

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

from typing import Any

from oncotrial.conduct.forms.model import (
    YES_NO,
    Field,
    FormContext,
    FormDef,
    SdtmRow,
    Stored,
    Values,
    choices_of,
    first,
)
from oncotrial.conduct.forms.treatment import (
    ada_form,
    adverse_event_form,
    infusion_form,
    oral_dosing_form,
)
from oncotrial.conduct.forms.tumour import tumour_form
from oncotrial.protocol.model import Protocol

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
        Field("race", "Race", "choice", choices=choices_of(RACE)),
        Field("ethnic", "Ethnicity", "choice", choices=choices_of(ETHNIC)),
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
        Field("reason", "Reason", "choice", required=True, choices=choices_of(reasons)),
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


__all__ = ["YES_NO", "STATUS_AT_END", "eligible", "study_forms"]
