"""The tumour assessment form: target, non-target and new lesions (SDTM TU, TR) and the
investigator's overall response (RS), in the conventions of pharmaverse ``tu_onco_recist`` /
``tr_onco_recist`` that the virtual trial and the RECIST engine use.

At the baseline (screening) assessment the lesions are identified (TU, TUMIDENT) and measured;
at each follow-up the baseline target and non-target lesions are measured again (TR) and new
lesions are identified. Targets are measured by the longest diameter, lymph nodes by the short
axis (RECIST 1.1 §3.2), and an intrahepatic HCC target also by its viable (enhancing) diameter
for mRECIST (TRTESTCD VLDIAM); non-target and new lesions are given a state (TUMSTATE).
"""

from __future__ import annotations

from collections.abc import Mapping

from oncotrial.conduct.forms.model import (
    YES_NO,
    Field,
    FormContext,
    FormDef,
    Group,
    SdtmRow,
    Stored,
    Values,
    first,
)

BASELINE_VISIT = "1"
FOLLOW_UPS = 30
VISITS = ((BASELINE_VISIT, "Baseline (screening)"),) + tuple(
    (str(100 + k), f"Follow-up assessment {k}") for k in range(1, FOLLOW_UPS + 1)
)
NON_TARGET_STATES = (
    ("PRESENT", "Present"),
    ("ABSENT", "Absent"),
    ("UNEQUIVOCAL", "Unequivocal progression"),
)
NEW_STATES = (("UNEQUIVOCAL", "Unequivocal"), ("EQUIVOCAL", "Equivocal"))
RESPONSES = (
    ("CR", "Complete response (CR)"),
    ("PR", "Partial response (PR)"),
    ("SD", "Stable disease (SD)"),
    ("PD", "Progressive disease (PD)"),
    ("NON-CR/NON-PD", "Non-CR/non-PD"),
    ("NE", "Not evaluable (NE)"),
)
METHODS = (("CT SCAN", "CT"), ("MRI", "MRI"))
#: TR test of the viable (arterially enhancing) diameter of an intrahepatic HCC target, as the
#: mRECIST criteria read it (Lencioni & Llovet 2010, Semin Liver Dis 30:52).
VIABLE_TEST = ("VLDIAM", "Viable Tumor Longest Diameter")


def visit_name(visitnum: str) -> str:
    """SDTM VISIT of a tumour assessment (``SCREENING``, ``TUMOUR ASSESSMENT k``)."""
    if visitnum == BASELINE_VISIT:
        return "SCREENING"
    return f"TUMOUR ASSESSMENT {int(visitnum) - 100}"


def _diameter_test(nodal: str | None) -> tuple[str, str]:
    return ("SAXIS", "Short Axis") if nodal == "Y" else ("LDIAM", "Longest Diameter")


def tumour_form() -> FormDef:
    """Target, non-target and new lesions with the investigator's overall response."""
    fields = (
        Field("visit", "Assessment", "choice", required=True, choices=VISITS),
        Field("date", "Scan date", "date", required=True),
        Field("method", "Method", "choice", required=True, choices=METHODS),
        Field(
            "response",
            "Overall response (investigator, RECIST 1.1)",
            "choice",
            choices=RESPONSES,
            help="at follow-up; the system computes it from the lesions too",
            store_checked=True,
        ),
    )
    targets = Group(
        "targets",
        "Target lesions",
        (
            Field("link", "Lesion", required=True, help="T01, T02 …"),
            Field("location", "Location", required=True),
            Field("nodal", "Lymph node?", "yesno", choices=YES_NO),
            Field("diameter", "Diameter", "number", required=True, unit="mm"),
            Field(
                "viable",
                "Viable diameter (mRECIST)",
                "number",
                unit="mm",
                help="arterially enhancing part of an intrahepatic HCC target",
            ),
        ),
        rows=5,
        key="link",
    )
    nontargets = Group(
        "nontargets",
        "Non-target lesions",
        (
            Field("link", "Lesion", required=True, help="NT01 …"),
            Field("location", "Location", required=True),
            Field("state", "State", "choice", required=True, choices=NON_TARGET_STATES),
        ),
        rows=5,
        key="link",
    )
    new = Group(
        "new",
        "New lesions",
        (
            Field("link", "Lesion", required=True, help="NEW01 …"),
            Field("location", "Location", required=True),
            Field("state", "State", "choice", required=True, choices=NEW_STATES),
        ),
        rows=3,
        key="link",
    )

    def to_records(ctx: FormContext, values: Values) -> list[SdtmRow]:
        visitnum = values.get("visit") or BASELINE_VISIT
        visit = visit_name(visitnum)
        when = values.get("date")
        baseline = visitnum == BASELINE_VISIT
        rows: list[SdtmRow] = []

        def identify(group: str, index: int, lesion: Mapping[str, str | None], role: str) -> None:
            rows.append(
                SdtmRow("TU")
                .set("TULNKID", lesion.get("link"), f"{group}.{index}.link")
                .set("TUTESTCD", "TUMIDENT")
                .set("TUTEST", "Tumor Identification")
                .set("TUORRES", role)
                .set("TUSTRESC", role)
                .set("TULOC", lesion.get("location"), f"{group}.{index}.location")
                .set("TUMETHOD", values.get("method"), "method")
                .set("TUEVAL", "INVESTIGATOR")
                .set("VISITNUM", visitnum, "visit")
                .set("VISIT", visit)
                .set("TUDTC", when, "date")
            )

        def result(
            group: str,
            index: int,
            grpid: str,
            link: str | None,
            test: tuple[str, str],
            value: str,
            field: str | None = None,
        ) -> None:
            measured = test[0] != "TUMSTATE"
            field = field or ("diameter" if measured else "state")
            rows.append(
                SdtmRow("TR")
                .set("TRGRPID", grpid)
                .set("TRLNKID", link, f"{group}.{index}.link")
                .set("TRTESTCD", test[0])
                .set("TRTEST", test[1])
                .set("TRORRES", value, f"{group}.{index}.{field}")
                .set("TRORRESU", "mm" if measured else None)
                .set("TRSTRESC", value, f"{group}.{index}.{field}")
                .set("TRSTRESN", value if measured else None, f"{group}.{index}.{field}")
                .set("TRSTRESU", "mm" if measured else None)
                .set("TRMETHOD", values.get("method"), "method")
                .set("TREVAL", "INVESTIGATOR")
                .set("VISITNUM", visitnum, "visit")
                .set("VISIT", visit)
                .set("TRDTC", when, "date")
            )

        for i, lesion in enumerate(values.get("targets") or []):
            if baseline:
                identify("targets", i, lesion, "TARGET")
            result(
                "targets",
                i,
                "TARGET",
                lesion.get("link"),
                _diameter_test(lesion.get("nodal")),
                lesion.get("diameter") or "",
            )
            if lesion.get("viable"):
                result(
                    "targets",
                    i,
                    "TARGET",
                    lesion.get("link"),
                    VIABLE_TEST,
                    lesion["viable"],
                    "viable",
                )
        for i, lesion in enumerate(values.get("nontargets") or []):
            if baseline:
                identify("nontargets", i, lesion, "NON-TARGET")
            result(
                "nontargets",
                i,
                "NON-TARGET",
                lesion.get("link"),
                ("TUMSTATE", "Tumor State"),
                lesion.get("state") or "",
            )
        for i, lesion in enumerate(values.get("new") or []):
            identify("new", i, lesion, "NEW")
            result(
                "new",
                i,
                "NEW",
                lesion.get("link"),
                ("TUMSTATE", "Tumor State"),
                lesion.get("state") or "",
            )
        if values.get("response"):
            rows.append(
                SdtmRow("RS")
                .set("RSTESTCD", "OVRLRESP")
                .set("RSTEST", "Overall Response")
                .set("RSCAT", "RECIST 1.1")
                .set("RSORRES", values.get("response"), "response")
                .set("RSSTRESC", values.get("response"), "response")
                .set("RSEVAL", "INVESTIGATOR")
                .set("VISITNUM", visitnum, "visit")
                .set("VISIT", visit)
                .set("RSDTC", when, "date")
            )
        # lesions are identified (TU) before their results (TR) are stored: a new lesion at a
        # follow-up is checked against its identification
        rows.sort(key=lambda row: row.domain != "TU")
        return rows

    def from_records(stored: Stored) -> Values:
        tu = stored.get("TU", ())
        tr = stored.get("TR", ())
        rs = first(stored.get("RS", ()), RSTESTCD="OVRLRESP")
        sample = tr[0] if tr else (tu[0] if tu else {})
        visitnum = sample.get("VISITNUM")
        locations = {row.get("TULNKID"): row.get("TULOC") for row in tu}

        viable = {
            row.get("TRLNKID"): row.get("TRORRES")
            for row in tr
            if row.get("TRTESTCD") == VIABLE_TEST[0]
        }

        def lesions(grpid: str) -> list[dict[str, str | None]]:
            out = []
            for row in tr:
                if row.get("TRGRPID") != grpid or row.get("TRTESTCD") == VIABLE_TEST[0]:
                    continue
                entry: dict[str, str | None] = {
                    "link": row.get("TRLNKID"),
                    "location": locations.get(row.get("TRLNKID")),
                }
                if grpid == "TARGET":
                    entry["nodal"] = "Y" if row.get("TRTESTCD") == "SAXIS" else "N"
                    entry["diameter"] = row.get("TRORRES")
                    entry["viable"] = viable.get(row.get("TRLNKID"))
                else:
                    entry["state"] = row.get("TRORRES")
                out.append(entry)
            return out

        return {
            "visit": visitnum,
            "date": sample.get("TRDTC") or sample.get("TUDTC"),
            "method": sample.get("TRMETHOD") or sample.get("TUMETHOD"),
            "response": rs.get("RSORRES"),
            "targets": lesions("TARGET"),
            "nontargets": lesions("NON-TARGET"),
            "new": lesions("NEW"),
        }

    return FormDef(
        "TA",
        "Tumour assessment (RECIST 1.1)",
        fields,
        to_records,
        from_records,
        groups=(targets, nontargets, new),
        repeating=True,
        description="Target, non-target and new lesions; overall response, computed and "
        "the investigator's.",
        order=60,
    )
