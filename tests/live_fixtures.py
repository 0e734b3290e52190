"""The virtual trial of the live-trial tests: a shortened copy of the shipped protocol (4 months
of follow-up, and a Simon plan of 3 then 6 patients: p0 0.10, p1 0.50, alpha 0.10) keeps the
trials small; the rules are the protocol's."""

from __future__ import annotations

from pathlib import Path

from oncotrial.conduct import Study
from oncotrial.sim.live_trial import play_virtual_trial

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "protocols" / "toripalimab-donafenib-hcc.yaml"
SEED = 4
SHORTER = {
    "followup_months: 18": "followup_months: 4",
    "p0: 0.20\n  p1: 0.40\n  alpha: 0.05": "p0: 0.10\n  p1: 0.50\n  alpha: 0.10",
}


def short_protocol(folder: Path, extra: dict[str, str] | None = None) -> Path:
    """The shortened protocol in ``folder`` (``extra``: further text replacements)."""
    text = SHIPPED.read_text(encoding="utf-8")
    for old, new in {**SHORTER, **(extra or {})}.items():
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = folder / "short.yaml"
    path.write_text(text, "utf-8")
    return path


def play(folder: Path, name: str, protocol: Path, seed: int = SEED) -> tuple[str, object]:
    url = f"sqlite:///{folder / name}"
    study = Study.open(url, protocol)
    try:
        trial = play_virtual_trial(study, seed)
    finally:
        study.close()
    return url, trial
