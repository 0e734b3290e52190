"""One name for each dose level (issue 7 section 3): the protocol's label with its doses, or
"dose k" without a protocol; one parser for every door that takes a level."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oncotrial.protocol import DoseNameError, DoseNames, load_protocol

PROTOCOL = Path(__file__).resolve().parents[1] / "protocols" / "toripalimab-donafenib-hcc.yaml"


def test_protocol_names_carry_label_and_escalated_dose() -> None:
    names = DoseNames.of(load_protocol(PROTOCOL))
    assert names.all_short() == ["L-1", "L1", "L2", "L3"]
    assert names.full(2) == "L2, donafenib 200 mg bid"
    assert names.full(0) == "L-1, donafenib 100 mg qd"


@pytest.mark.parametrize(("text", "index"), [("L-1", 0), ("l1", 1), (" L 2 ", 2), ("L3", 3)])
def test_protocol_levels_are_parsed_by_label(text: str, index: int) -> None:
    assert DoseNames.of(load_protocol(PROTOCOL)).parse(text) == index


@pytest.mark.parametrize("text", ["2", "dose 2", "L0", "L4", "Lx", ""])
def test_protocol_refuses_indices_and_unknown_labels(text: str) -> None:
    with pytest.raises(DoseNameError, match="levels: L-1, L1, L2, L3"):
        DoseNames.of(load_protocol(PROTOCOL)).parse(text)


def test_plain_names_without_protocol() -> None:
    names = DoseNames.plain(4)
    assert names.all_full() == ["dose 1", "dose 2", "dose 3", "dose 4"]
    assert names.parse("dose 4") == 3 and names.parse("1") == 0
    with pytest.raises(DoseNameError, match="dose 1..dose 4"):
        names.parse("5")
    with pytest.raises(DoseNameError):
        names.short(4)


@given(st.integers(min_value=1, max_value=12), st.data())
def test_every_name_parses_back_to_its_level(n: int, data: st.DataObject) -> None:
    labels = tuple(sorted(data.draw(st.sets(st.integers(-3, 20), min_size=n, max_size=n))))
    for names in (DoseNames.plain(n), DoseNames(n_doses=n, labels=labels)):
        for i in range(n):
            assert names.parse(names.short(i)) == i
