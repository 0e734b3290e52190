"""The same checks at every door: one table of bad (and good) SDTM inputs goes through
``oncotrial derive``, ``oncotrial db import`` and the store's record API (what the web forms
call), and each door accepts or refuses it the same way, with the same finding lines.

The base data are a virtual trial of the shipped protocol as ``db export`` writes it (the first
six subjects); each case changes one thing. Codelists are CDISC CT subsets, grades CTCAE v5.0,
dates ISO 8601 (SDTMIG v3.4 §4.4), ranges docs/data-checks.md.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from oncotrial.cdisc.errors import DataError
from oncotrial.cli.main import app
from oncotrial.derive.io import read_dataset, scan_folder
from oncotrial.store import EditCheckError, init_db

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml"
runner = CliRunner(env={"COLUMNS": "80"})
N_SUBJECTS = 6

Change = Callable[[Path], None]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SDTM of six virtual patients, as exported from the trial database."""
    work = tmp_path_factory.mktemp("base")
    db = work / "trial.db"
    run = runner.invoke(
        app, ["simulate-trial", "--protocol", str(PROTOCOL), "--seed", "11", "--db", str(db)]
    )
    assert run.exit_code == 0, run.output
    export = runner.invoke(app, ["db", "export", "--db", str(db), "--out", str(work / "all")])
    assert export.exit_code == 0, export.output
    folder = work / "sdtm"
    folder.mkdir()
    dm = _read(work / "all" / "dm.csv")
    keep = set(dm["USUBJID"].iloc[:N_SUBJECTS])
    for path in sorted((work / "all").glob("*.csv")):
        frame = _read(path)
        frame[frame["USUBJID"].isin(keep)].to_csv(folder / path.name, index=False)
    return folder


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def edit(domain: str, change: Callable[[pd.DataFrame], pd.DataFrame]) -> Change:
    def apply(folder: Path) -> None:
        path = folder / f"{domain}.csv"
        change(_read(path)).to_csv(path, index=False)

    return apply


def cell(
    domain: str, column: str, value: str, where: Callable[[pd.DataFrame], pd.Series] | None = None
) -> Change:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        rows = frame.index[where(frame)] if where is not None else frame.index
        frame.loc[rows[0], column] = value
        return frame

    return edit(domain, change)


def diameter(frame: pd.DataFrame) -> pd.Series:
    return frame["TRTESTCD"].eq("LDIAM")


def with_row(
    domain: str,
    change: Callable[[pd.Series], pd.Series],
    where: Callable[[pd.DataFrame], pd.Series] | None = None,
) -> Change:
    def add(frame: pd.DataFrame) -> pd.DataFrame:
        source = frame[where(frame)] if where is not None else frame
        extra = change(source.iloc[0].copy())
        return pd.concat([frame, extra.to_frame().T], ignore_index=True)

    return edit(domain, add)


def remove_column(domain: str, column: str) -> Change:
    return edit(domain, lambda frame: frame.drop(columns=[column]))


def empty_file(domain: str) -> Change:
    return lambda folder: (folder / f"{domain}.csv").write_bytes(b"")


def renumbered(row: pd.Series, seq: str, **values: str) -> pd.Series:
    row[seq] = "9999"
    for name, value in values.items():
        row[name] = value
    return row


# (case, change, accepted, rule of the first finding or warning, message fragment)
CASES: list[tuple[str, Change, bool, str, str]] = [
    ("exact duplicate TR row", with_row("tr", lambda r: r), False, "duplicate", "given twice"),
    ("AGE sixty", cell("dm", "AGE", "sixty"), False, "number_format", "'sixty' is not a number"),
    ("AGE 450", cell("dm", "AGE", "450"), False, "plausible_age", "450 years is outside"),
    ("AGE 1e400", cell("dm", "AGE", "1e400"), False, "number_finite", "not a finite number"),
    ("0-byte ae.csv", empty_file("ae"), False, "empty_file", "the file is empty (0 bytes)"),
    (
        "two diameters for one lesion at one visit",
        with_row(
            "tr",
            lambda r: renumbered(r, "TRSEQ", TRORRES="77", TRSTRESC="77", TRSTRESN="77"),
            diameter,
        ),
        False,
        "duplicate_result",
        "two different LDIAM results",
    ),
    (
        "the same diameter twice at one visit",
        with_row("tr", lambda r: renumbered(r, "TRSEQ"), diameter),
        True,
        "duplicate_result",
        "counted once",
    ),
    (
        "lesion diameter 1e308 mm",
        cell("tr", "TRSTRESN", "1e308", diameter),
        False,
        "plausible_lesion_diameter",
        "1e+308 mm is outside",
    ),
    (
        "negative diameter",
        cell("tr", "TRSTRESN", "-3", diameter),
        False,
        "diameter_nonnegative",
        "is negative",
    ),
    (
        "diameter in inches",
        cell("tr", "TRSTRESU", "in", diameter),
        False,
        "controlled_term",
        "not a length unit",
    ),
    (
        "lesion never identified",
        cell("tr", "TRLNKID", "T99", diameter),
        False,
        "lesion_identified",
        "never identified in TU",
    ),
    (
        "hour 25",
        cell("ae", "AESTDTC", "2024-01-05T25:00"),
        False,
        "date_format",
        "time 25:00 does not exist",
    ),
    (
        "month unknown, day known",
        cell("ae", "AESTDTC", "2024---15"),
        True,
        "date_partial",
        "is a partial date",
    ),
    (
        "partial dose date",
        cell("ex", "EXSTDTC", "2024-03"),
        False,
        "date_partial",
        "EXSTDTC needs the day",
    ),
    (
        "partial scan date",
        cell("tr", "TRDTC", "2024-03", diameter),
        False,
        "date_partial",
        "TRDTC needs the day",
    ),
    ("grade 7", cell("ae", "AETOXGR", "7"), False, "ctcae_grade", "not a CTCAE grade"),
    (
        "severity not a term",
        cell("ae", "AESEV", "FATAL"),
        False,
        "controlled_term",
        "'FATAL' is not a term of AESEV",
    ),
    (
        "ADA result not a term",
        cell("is", "ISSTRESC", "MAYBE", lambda f: f["ISTESTCD"].eq("ADA_BAB")),
        False,
        "controlled_term",
        "unknown ADA result 'MAYBE'",
    ),
    (
        "AE of an unknown subject",
        cell("ae", "USUBJID", "99-999"),
        False,
        "unknown_subject",
        "not in the study",
    ),
    ("AE start missing", remove_column("ae", "AESTDTC"), False, "required_column", "AESTDTC"),
    (
        "AE before consent",
        cell("ae", "AESTDTC", "2000-01-01"),
        False,
        "date_order",
        "before informed consent",
    ),
    (
        "two ends of study",
        with_row("ds", lambda r: renumbered(r, "DSSEQ"), lambda f: f["DSSCAT"].eq("END OF STUDY")),
        False,
        "one_per_subject",
        "more than one end-of-study disposition",
    ),
]


def _door_lines(output: str) -> list[str]:
    """The finding lines of a refusal (after its header line)."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: the data were refused"), output
    return lines[1:]


def _door(args: list[str]) -> tuple[bool, list[str], str]:
    """Accepted?, the finding lines of a refusal, and the whole output of a command."""
    result = runner.invoke(app, args)
    if result.exit_code == 0:
        return True, [], result.output
    assert result.exit_code == 2, result.output
    return False, _door_lines(result.output), result.output


def _derive(folder: Path, out: Path, *extra: str) -> tuple[bool, list[str], str]:
    return _door(["derive", "--sdtm", str(folder), "--out", str(out), *extra])


def _import(folder: Path, db: Path, *extra: str) -> tuple[bool, list[str], str]:
    init_db(f"sqlite:///{db}").close()
    return _door(["db", "import", "--db", str(db), "--sdtm", str(folder), *extra])


def _api(folder: Path, db: Path) -> tuple[bool, list[str], list[str]]:
    """The store's record API, as a web form calls it (one domain at a time, in order)."""
    store = init_db(f"sqlite:///{db}")
    try:
        scan = scan_folder(folder)
        domains = {d.upper(): read_dataset(p, numeric=()) for d, p in scan.found.items()}
    except DataError as exc:
        store.close()
        return False, [str(exc)], []
    try:
        results = store.import_domains(domains, "site-user")
    except EditCheckError as exc:
        return False, [str(f) for f in exc.findings], []
    finally:
        store.close()
    return True, [], [str(w) for r in results.values() for w in r.warnings]


@pytest.mark.parametrize(
    ("change", "accepted", "rule", "message"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_every_door_accepts_or_refuses_alike(
    base: Path, tmp_path: Path, change: Change, accepted: bool, rule: str, message: str
) -> None:
    folder = tmp_path / "sdtm"
    shutil.copytree(base, folder)
    change(folder)
    derived, derive_lines, derive_out = _derive(folder, tmp_path / "adam")
    imported, import_lines, import_out = _import(folder, tmp_path / "import.db")
    stored, api_lines, api_warnings = _api(folder, tmp_path / "api.db")
    assert derived is imported is stored is accepted, (derive_out, import_out)
    if not accepted:
        assert derive_lines == import_lines == api_lines[: len(import_lines)]
        assert f"[{rule}]" in derive_lines[0] and message in derive_lines[0], derive_lines
        assert not (tmp_path / "adam").exists()
        return
    warning = next(w for w in api_warnings if f"[{rule}]" in w)
    assert message in warning
    assert warning in derive_out and warning in import_out  # listed at both doors


def test_the_base_data_pass_every_door(base: Path, tmp_path: Path) -> None:
    assert _derive(base, tmp_path / "adam")[0]
    assert _import(base, tmp_path / "t.db")[0]


def test_an_override_with_a_reason_is_accepted_at_both_doors_and_audited(
    base: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "sdtm"
    shutil.copytree(base, folder)
    cell("dm", "AGE", "121")(folder)
    subject = _read(folder / "dm.csv")["USUBJID"].iloc[0]
    for door in (_derive, _import):
        target = tmp_path / ("adam" if door is _derive else "t.db")
        bare = runner.invoke(app, _args(door, folder, target, "--override", "plausible_age"))
        assert bare.exit_code == 2 and "--override needs --reason" in bare.output
    reason = "age 121 verified against the passport"
    args = ("--override", "plausible_age", "--reason", reason)
    derived, _, derive_out = _derive(folder, tmp_path / "adam", *args)
    imported, _, import_out = _import(folder, tmp_path / "t.db", *args)
    assert derived and imported
    line = f"dataset DM, row 1, subject {subject}, column AGE: [plausible_age] AGE 121 years"
    assert line in derive_out and line in import_out
    store = init_db(f"sqlite:///{tmp_path / 't.db'}")
    try:
        record = store.records("DM", usubjid=subject).index[0]
        trail = store.audit_trail("DM", record)
        reasons = set(trail["reason"])
        others = set(store.audit_trail("DM")["reason"]) - reasons
    finally:
        store.close()
    [why] = reasons
    assert why.startswith(reason) and "plausible_age on AGE" in why
    assert others == {reason}  # the other records were not overridden
    structural = runner.invoke(
        app,
        _args(_derive, folder, tmp_path / "x", "--override", "all", "--reason", "legacy"),
    )
    assert structural.exit_code == 0
    with_row("tr", lambda r: r)(folder)
    for door in (_derive, _import):
        target = tmp_path / ("adam2" if door is _derive else "t2.db")
        ok, lines, _ = door(folder, target, "--override", "all", "--reason", "legacy")
        assert not ok and any("[duplicate]" in line for line in lines)


def _args(door: Callable[..., object], folder: Path, target: Path, *extra: str) -> list[str]:
    if door is _derive:
        return ["derive", "--sdtm", str(folder), "--out", str(target), *extra]
    init_db(f"sqlite:///{target}").close()
    return ["db", "import", "--db", str(target), "--sdtm", str(folder), *extra]


def test_ranges_come_from_the_protocol_at_both_doors(base: Path, tmp_path: Path) -> None:
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text(
        PROTOCOL.read_text()
        + "\nplausibility:\n  age: {low: 18, high: 75, source: 'eligibility: 18 to 75 years'}\n"
    )
    folder = tmp_path / "sdtm"
    shutil.copytree(base, folder)
    cell("dm", "AGE", "80")(folder)
    assert _derive(folder, tmp_path / "a1")[0] and _import(folder, tmp_path / "1.db")[0]
    use = ("--protocol", str(protocol))
    derived, derive_lines, _ = _derive(folder, tmp_path / "a2", *use)
    imported, import_lines, _ = _import(folder, tmp_path / "2.db", *use)
    assert not derived and not imported and derive_lines == import_lines
    assert (
        "AGE 80 years is outside the plausible range 18–75 years (eligibility: 18 to 75 years)"
        in derive_lines[0]
    )


def test_files_not_used_and_warnings_are_listed_at_both_doors(base: Path, tmp_path: Path) -> None:
    folder = tmp_path / "sdtm"
    shutil.copytree(base, folder)
    (folder / "notes.txt").write_text("site remarks")
    (folder / "vs.csv").write_text("USUBJID,VSTESTCD\nS-1,HR\n")
    cell("ae", "AESTDTC", "2024---15")(folder)
    derived = runner.invoke(app, ["derive", "--sdtm", str(folder), "--out", str(tmp_path / "a")])
    imported = runner.invoke(
        app, ["db", "import", "--db", str(_new_db(tmp_path / "1.db")), "--sdtm", str(folder)]
    )
    assert derived.exit_code == 0 and imported.exit_code == 0
    for output, verb in ((derived.output, "not used"), (imported.output, "not imported")):
        assert f"{verb}: notes.txt: not a dataset file" in output
        assert "[date_partial] '2024---15' is a partial date" in output
    assert "not used: vs.csv: domain VS is not used" in derived.output
    assert "not imported: vs.csv: domain VS is not used" in imported.output
    as_json = [
        json.loads(
            runner.invoke(app, [*args, "--format", "json"]).stdout,
        )
        for args in (
            ["derive", "--sdtm", str(folder), "--out", str(tmp_path / "b")],
            ["db", "import", "--db", str(_new_db(tmp_path / "2.db")), "--sdtm", str(folder)],
        )
    ]
    for data, key in zip(as_json, ("not_used", "not_imported"), strict=True):
        assert any(w["rule"] == "date_partial" and w["row"] >= 1 for w in data["warnings"])
        assert any(line.startswith("notes.txt") for line in data[key])


def _new_db(path: Path) -> Path:
    init_db(f"sqlite:///{path}").close()
    return path
