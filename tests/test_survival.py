"""Survival kernels, the Kaplan–Meier figure and ``oncotrial km`` against R's survival package.

Reference: R 4.2.2, survival 3.5-3. ``tests/reference/survival/make_reference.R`` exported the
``lung``, ``aml``, ``ovarian`` and ``veteran`` data sets and R's results (survfit with log,
log-log and plain intervals, quantile/print medians and their CIs, summary at times, survdiff,
coxph) to ``survival_reference.csv``; R is not needed to run these tests. Comparisons use a
relative tolerance of 1e-8 (1e-7 for Cox fits), i.e. 7–8 significant digits, unless a published
rounded number is quoted.
"""

from __future__ import annotations

import doctest
import functools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from matplotlib.text import Text
from PIL import Image

from oncotrial.report.km_plot import MIN_FONT_PT, km_figure, plot_km
from oncotrial.stats import cox as cox_module
from oncotrial.stats import km as km_module
from oncotrial.stats import logrank as logrank_module
from oncotrial.stats import risk_sets, survival_input
from oncotrial.stats.cox import cox_ph
from oncotrial.stats.km import (
    KaplanMeier,
    kaplan_meier,
    kaplan_meier_by,
    median_followup,
    pointwise_ci,
)
from oncotrial.stats.logrank import logrank_test
from oncotrial.stats.risk_sets import merge_near_ties, risk_table
from oncotrial.stats.survival_input import factor_codes

REF = Path(__file__).resolve().parent / "reference" / "survival"
RTOL = 1e-8
LUNG_TIMES = [0, 5, 90, 180, 365, 540, 730, 1000, 1100]
TINY = {
    "flat_mid": ([1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 1, 1]),
    "flat_end": ([1, 2, 3, 4], [1, 1, 0, 0]),
    "not_reached": ([1, 2, 3, 4, 5, 6], [1, 0, 0, 1, 0, 0]),
    "all_die": ([2, 2, 3, 5, 5, 8], [1, 1, 1, 0, 1, 1]),
    "censor_first": ([1, 2, 3, 4, 5], [0, 0, 1, 0, 1]),
}
CONF_TYPES = ("log", "log-log", "plain")


@functools.cache
def reference() -> pd.DataFrame:
    return pd.read_csv(REF / "survival_reference.csv", na_values=["NA"], keep_default_na=False)


def r(case: str, quantity: str) -> np.ndarray:
    ref = reference()
    rows = ref[(ref["case"] == case) & (ref["quantity"] == quantity)].sort_values("index")
    assert len(rows), f"no R reference for {case} / {quantity}"
    return rows["value"].to_numpy(dtype=float)


@functools.cache
def dataset(name: str) -> pd.DataFrame:
    return pd.read_csv(REF / f"{name}.csv")


def lung_te() -> tuple[np.ndarray, np.ndarray]:
    """lung: time in days, status 2 = dead, 1 = censored."""
    lung = dataset("lung")
    return lung["time"].to_numpy(), (lung["status"] == 2).astype(int).to_numpy()


def assert_r(actual, case: str, quantity: str, rtol: float = RTOL) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=float),
        r(case, quantity),
        rtol=rtol,
        atol=1e-12,
        equal_nan=True,
        err_msg=f"{case} / {quantity}",
    )


def km_cases() -> dict[str, tuple[np.ndarray, np.ndarray, dict, list[float] | None]]:
    """Each R case: time, event, kaplan_meier options, landmark times (or None)."""
    t, e = lung_te()
    sex = dataset("lung")["sex"].to_numpy()
    aml = dataset("aml")
    cases: dict[str, tuple] = {}
    for ct in CONF_TYPES:
        cases[f"lung_{ct}"] = (t, e, {"conf_type": ct}, LUNG_TIMES)
        cases[f"lung_{ct}_90"] = (t, e, {"conf_type": ct, "conf_level": 0.9}, None)
        for s in (1, 2):
            cases[f"lung_sex{s}_{ct}"] = (t[sex == s], e[sex == s], {"conf_type": ct}, LUNG_TIMES)
        cases[f"aml_{ct}"] = (aml["time"], aml["status"], {"conf_type": ct}, [10, 20, 30, 48, 100])
        for name, (tt, ee) in TINY.items():
            cases[f"tiny_{name}_{ct}"] = (tt, ee, {"conf_type": ct}, [0, 0.5, 1, 2.5, 4, 6])
    ovarian = dataset("ovarian")
    cases["ovarian_log"] = (ovarian["futime"], ovarian["fustat"], {}, None)
    return cases


KM_CASES = km_cases()
#: R wrote whole curves for every case but the by-sex log-log and plain ones (file size)
CURVE_CASES = [
    c for c in KM_CASES if not (c.startswith("lung_sex") and not c.endswith(("_log", "_90")))
]


def fit_case(case: str) -> KaplanMeier:
    t, e, options, _ = KM_CASES[case]
    return kaplan_meier(np.asarray(t), np.asarray(e), **options)


# --- published numbers -------------------------------------------------------------------------


def test_lung_median_and_ci_published() -> None:
    # R: print(survfit(Surv(time, status) ~ 1, data = lung)) → n 228, events 165,
    # median 310, 0.95LCL 285, 0.95UCL 363 (log scale, R's default)
    fit = kaplan_meier(*lung_te())
    assert (fit.n, fit.events) == (228, 165)
    med = fit.median()
    assert (med.time, med.lower, med.upper) == (310, 285, 363)


def test_lung_logrank_by_sex_published() -> None:
    # R ?survdiff example: survdiff(Surv(time, status) ~ sex, data = lung) →
    # Chisq = 10.3 on 1 degrees of freedom, p = 0.001; observed 112 / 53, expected 91.6 / 73.4
    t, e = lung_te()
    test = logrank_test(t, e, dataset("lung")["sex"])
    assert round(test.chisq, 2) == 10.33 and test.df == 1
    assert round(test.p, 3) == 0.001
    assert test.observed.tolist() == [112, 53]
    assert np.round(test.expected, 1).tolist() == [91.6, 73.4]


def test_lung_cox_age_sex_published() -> None:
    # R: summary(coxph(Surv(time, status) ~ age + sex, data = lung)) → coef 0.017045 and
    # -0.513219, se 0.009223 and 0.167458, HR for sex 0.5986 (0.4311–0.8311), likelihood ratio
    # test 14.12, Wald 13.47, score 13.72 on 2 df
    t, e = lung_te()
    lung = dataset("lung")
    fit = cox_ph(t, e, lung[["age", "sex"]], names=["age", "sex"])
    assert np.round(fit.coef, 6).tolist() == [0.017045, -0.513219]
    assert np.round(fit.se, 6).tolist() == [0.009223, 0.167458]
    assert np.round([fit.hr[1], fit.lower[1], fit.upper[1]], 4).tolist() == [0.5986, 0.4311, 0.8311]
    assert [round(x.chisq, 2) for x in (fit.lr, fit.wald, fit.score)] == [14.12, 13.47, 13.72]
    assert fit.names == ("age", "sex") and fit.n_event == 165


# --- Kaplan–Meier against R survfit ------------------------------------------------------------


@pytest.mark.parametrize("case", CURVE_CASES)
def test_curve_matches_r_survfit(case: str) -> None:
    """time, n.risk, n.event, n.censor, surv, std.err, lower, upper of R survfit (all times)."""
    fit = fit_case(case)
    for quantity, values in [
        ("time", fit.time),
        ("n_risk", fit.n_risk),
        ("n_event", fit.n_event),
        ("n_censor", fit.n_censor),
        ("surv", fit.surv),
        ("std_err", fit.std_err),
        ("lower", fit.lower),
        ("upper", fit.upper),
    ]:
        assert_r(values, case, quantity)


@pytest.mark.parametrize("case", list(KM_CASES))
def test_quantiles_match_r(case: str) -> None:
    """quantile(fit, c(.25, .5, .75)) with its CIs, and the median of print(fit)."""
    fit = fit_case(case)
    q = fit.quantiles([0.25, 0.5, 0.75])
    assert_r([x.time for x in q], case, "quantile")
    assert_r([x.lower for x in q], case, "quantile_lower")
    assert_r([x.upper for x in q], case, "quantile_upper")
    med = fit.median()
    assert_r([med.time], case, "print_median")
    assert_r([med.lower], case, "print_lcl")
    assert_r([med.upper], case, "print_ucl")


@pytest.mark.parametrize("case", [c for c, v in KM_CASES.items() if v[3] is not None])
def test_landmarks_match_r_summary(case: str) -> None:
    """summary(fit, times = ...): R drops times after the last one unless extend = TRUE."""
    fit = fit_case(case)
    times = KM_CASES[case][3]
    rows = [row for row in fit.at(times) if row.time <= fit.time[-1]]
    assert all(np.isnan(row.surv) and row.n_risk == 0 for row in fit.at(times)[len(rows) :])
    for quantity in ("time", "surv", "std_err", "lower", "upper", "n_risk", "n_event", "n_censor"):
        assert_r([getattr(row, quantity) for row in rows], case, f"at_{quantity}")
    if case.startswith("lung_") and "sex" not in case:
        extended = fit.at(times, extend=True)
        for quantity in ("time", "surv", "std_err", "lower", "upper", "n_risk", "n_event"):
            assert_r(
                [getattr(row, quantity) for row in extended], f"{case}_extend", f"at_{quantity}"
            )


def test_lung_landmarks_spelled_out() -> None:
    # R: summary(survfit(Surv(time, status) ~ 1, lung), times = c(180, 365)) →
    # 180: n.risk 160, survival 0.722, 95% CI 0.666–0.783; 365: 65, 0.409, 0.345–0.486
    at = kaplan_meier(*lung_te()).at([365, 180])
    assert [row.time for row in at] == [180, 365]
    assert [row.n_risk for row in at] == [160, 65]
    assert [round(row.surv, 3) for row in at] == [0.722, 0.409]
    assert [(round(row.lower, 3), round(row.upper, 3)) for row in at] == [
        (0.666, 0.783),
        (0.345, 0.486),
    ]


def test_quantile_conventions_of_r() -> None:
    # S = 0.5 exactly on [3, 4): median is the midpoint 3.5 (R quantile and print agree)
    flat = fit_case("tiny_flat_mid_log")
    assert flat.median().time == 3.5 and flat.quantiles([0.5])[0].time == 3.5
    # S = 0.5 from 2 to the last (censored) time 4: R quantile() → 3, print() → 2
    end = fit_case("tiny_flat_end_log")
    assert end.quantiles([0.5])[0].time == 3.0 and end.median().time == 2.0
    assert end.median(rule="quantile").time == 3.0
    # aml: the upper band rises again after t = 45; R quantile() → 48, print() → 45
    aml = fit_case("aml_log")
    assert aml.quantiles([0.5])[0].upper == 48 and aml.median().upper == 45
    assert (aml.median().time, aml.median().lower) == (27, 18)
    # never reaching 0.5: NaN, R's NA
    assert np.isnan(fit_case("tiny_not_reached_log").median().time)


def test_reverse_km_median_followup_matches_r() -> None:
    # R: survfit(Surv(time, status == 1) ~ 1, data = lung) → median follow-up 588 (CI 511–1010)
    t, e = lung_te()
    reverse = kaplan_meier(t, e).reverse()
    for quantity in ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"):
        assert_r(getattr(reverse, quantity), "lung_reverse", quantity)
    follow = median_followup(t, e)
    assert_r([follow.time], "lung_reverse", "print_median")
    assert_r([follow.lower], "lung_reverse", "print_lcl")
    assert_r([follow.upper], "lung_reverse", "print_ucl")
    assert follow.time == 588


def test_grouped_fit_matches_r_strata() -> None:
    # R: survfit(Surv(time, status) ~ sex, data = lung): strata sizes (distinct times) 119 and
    # 87; quartiles by sex 144/270/457 and 226/426/687 (quantile(fit))
    t, e = lung_te()
    fits = kaplan_meier_by(t, e, dataset("lung")["sex"])
    assert list(fits) == ["1", "2"]
    assert [f.time.size for f in fits.values()] == r("lung_by_sex", "strata").tolist()
    quart = [q.time for f in fits.values() for q in f.quantiles()]
    assert_r(quart, "lung_by_sex", "quantile")
    assert fits["1"].label == "1"


@pytest.mark.parametrize("conf_type", CONF_TYPES)
def test_grouped_curves_match_r_survfit_strata(conf_type: str) -> None:
    """survfit(Surv(time, status) ~ x, data = aml, conf.type = ...): R concatenates the curves
    of the strata (Maintained, then Nonmaintained); ours come from one sort of all groups."""
    aml = dataset("aml")
    fits = kaplan_meier_by(aml["time"], aml["status"], aml["x"], conf_type=conf_type)
    assert list(fits) == ["Maintained", "Nonmaintained"]
    case = f"aml_by_x_{conf_type}"
    for quantity in ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"):
        values = np.concatenate([getattr(fit, quantity) for fit in fits.values()])
        assert_r(values, case, quantity)
    for label, fit in fits.items():
        alone = kaplan_meier(aml["time"][aml["x"] == label], aml["status"][aml["x"] == label])
        np.testing.assert_array_equal(fit.surv, alone.surv)
        assert fit.start_time == alone.start_time == 0


def test_pointwise_ci_rejects_unknown_type() -> None:
    with pytest.raises(ValueError, match="unknown confidence interval type"):
        pointwise_ci([0.5], [0.1], "logit")  # type: ignore[arg-type]


def test_bad_input_is_named() -> None:
    with pytest.raises(ValueError, match="event at position 1 is not 0 or 1"):
        kaplan_meier([1, 2], [0, 2])
    with pytest.raises(ValueError, match="time at position 0"):
        kaplan_meier([np.nan, 2], [0, 1])
    with pytest.raises(ValueError, match="group at position 2 is missing"):
        logrank_test([1, 2, 3], [1, 1, 1], ["a", "b", None])
    with pytest.raises(ValueError, match="strata at position 1 is missing"):
        logrank_test([1, 2, 3], [1, 1, 1], [1, 2, 1], strata=[1.0, np.nan, 2.0])
    with pytest.raises(ValueError, match="by at position 0 is missing"):
        kaplan_meier_by([1, 2], [1, 0], np.array([np.nan, "a"], dtype=object))
    with pytest.raises(ValueError, match="one value per observation"):
        kaplan_meier_by([1, 2], [1, 0], ["a"])
    # R: survdiff(Surv(c(1, 1), c(1, 1)) ~ c(0, 1)) stops: "system is exactly singular"
    with pytest.raises(ValueError, match="singular"):
        logrank_test([1, 1], [1, 1], [0, 1])
    # R: survdiff(Surv(c(1, 2), c(0, 0)) ~ c(0, 1), rho = 1) → Chisq 0 on -1 df, p NA
    none = logrank_test([1, 2], [0, 0], [0, 1], rho=1)
    assert (none.chisq, none.df, none.observed.tolist()) == (0.0, -1, [0, 0])
    assert np.isnan(none.p)


@pytest.mark.parametrize(
    ("values", "labels", "codes"),
    [
        (["b", "a", "b", "c"], ["a", "b", "c"], [1, 0, 1, 2]),
        ([10, 2, 10], ["2", "10"], [1, 0, 1]),
        (["L2", "L10", "L2"], ["L10", "L2"], [1, 0, 1]),
        ([2.0, 1.0, 2.0], ["1", "2"], [1, 0, 1]),
        ([0.5, -1.25, 0.5], ["-1.25", "0.5"], [1, 0, 1]),
        ([True, False, True], ["0", "1"], [1, 0, 1]),
        ([10**12, -3, 10**12], ["-3", "1000000000000"], [1, 0, 1]),
        (np.array(["x", 2, "a", 1], dtype=object), ["1", "2", "a", "x"], [3, 1, 2, 0]),
    ],
)
def test_factor_codes_order_levels_as_r_factor(values, labels, codes) -> None:
    """Levels sorted as R factor() sorts a numeric or a character column (2 before 10, "L10"
    before "L2"); whole floats are labelled without '.0'; an object column mixing numbers and
    text (which R cannot hold) puts the numbers first."""
    got_codes, got_labels = factor_codes(values, "group", len(values))
    assert got_labels == labels and got_codes.tolist() == codes


@settings(max_examples=80, deadline=None)
@given(
    st.one_of(
        st.lists(st.integers(min_value=-(2**40), max_value=2**40), min_size=1, max_size=30),
        st.lists(st.integers(min_value=-3, max_value=3), min_size=1, max_size=30),
        st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1),
        st.lists(st.sampled_from(["arm A", "arm B", "L2", "L10", "é"]), min_size=1),
    )
)
def test_factor_codes_round_trip(values) -> None:
    """Codes index sorted, distinct labels, and every value is its label (whatever route the
    coding takes: counting, sorting or hashing)."""
    codes, labels = factor_codes(values, "group", len(values))
    distinct = sorted(set(values))
    assert len(labels) == len(distinct)
    assert [distinct[c] for c in codes.tolist()] == list(values)


# --- log-rank against R survdiff ---------------------------------------------------------------


#: make_reference.R's tiny_lr: time, status, group, stratum. Group "c" is censored before any
#: event; in stratum 2 everybody still at risk at time 4 dies then.
TINY_LOGRANK = (
    [1, 2, 3, 4, 5, 6, 2, 3, 3, 4, 4],
    [0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1],
    ["c", "a", "b", "a", "b", "a", "a", "b", "a", "b", "a"],
    [1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2],
)


def logrank_cases() -> dict[str, tuple]:
    lung = dataset("lung")
    t, e = lung_te()
    ok = lung["ph.ecog"].notna().to_numpy()
    inst = lung["inst"].notna().to_numpy()
    veteran = dataset("veteran")
    # R's factor order of veteran$celltype (make_reference.R); groups are reported sorted
    cell = veteran["celltype"].map({"squamous": 1, "smallcell": 2, "adeno": 3, "large": 4})
    aml, ovarian = dataset("aml"), dataset("ovarian")
    return {
        "lr_lung_sex": (t, e, lung["sex"], None, 0),
        "lr_lung_sex_rho1": (t, e, lung["sex"], None, 1),
        "lr_lung_ecog": (t[ok], e[ok], lung["ph.ecog"][ok], None, 0),
        "lr_lung_sex_strata_ecog": (t[ok], e[ok], lung["sex"][ok], lung["ph.ecog"][ok], 0),
        "lr_veteran_celltype": (veteran["time"], veteran["status"], cell, None, 0),
        "lr_veteran_trt_strata_celltype": (
            veteran["time"],
            veteran["status"],
            veteran["trt"],
            veteran["celltype"],
            0,
        ),
        "lr_aml_x": (aml["time"], aml["status"], aml["x"], None, 0),
        "lr_ovarian_rx": (ovarian["futime"], ovarian["fustat"], ovarian["rx"], None, 0),
        "lr_lung_sex_rho1_strata_ecog": (t[ok], e[ok], lung["sex"][ok], lung["ph.ecog"][ok], 1),
        "lr_lung_ecog_rho05": (t[ok], e[ok], lung["ph.ecog"][ok], None, 0.5),
        "lr_veteran_celltype_rho1_strata_trt": (
            veteran["time"],
            veteran["status"],
            cell,
            veteran["trt"],
            1,
        ),
        "lr_lung_month_sex": (np.ceil(t / 30), e, lung["sex"], None, 0),
        "lr_lung_month_sex_rho1": (np.ceil(t / 30), e, lung["sex"], None, 1),
        "lr_lung_sex_strata_inst": (t[inst], e[inst], lung["sex"][inst], lung["inst"][inst], 0),
        "lr_lung_sex_rho1_strata_inst": (
            t[inst],
            e[inst],
            lung["sex"][inst],
            lung["inst"][inst],
            1,
        ),
        "lr_tiny_unused_group": (*TINY_LOGRANK[:3], None, 0),
        "lr_tiny_unused_group_strata_rho1": (*TINY_LOGRANK, 1),
    }


LOGRANK_CASES = logrank_cases()


@pytest.mark.parametrize("case", list(LOGRANK_CASES))
def test_logrank_matches_r_survdiff(case: str) -> None:
    """survdiff: chisq, df, p, observed, expected, var (k groups, strata, rho = 1)."""
    t, e, group, strata, rho = LOGRANK_CASES[case]
    test = logrank_test(t, e, group, strata=strata, rho=rho)
    assert_r([test.chisq], case, "chisq")
    assert_r([test.df], case, "df")
    assert_r([test.p], case, "p")
    assert_r(test.observed, case, "observed")
    assert_r(test.expected, case, "expected")
    assert_r(test.variance.ravel(order="F"), case, "var")
    assert_r(test.n, case, "n")


# --- Cox against R coxph -----------------------------------------------------------------------


def cox_cases() -> dict[str, tuple]:
    lung, aml, veteran, ovarian = (dataset(n) for n in ("lung", "aml", "veteran", "ovarian"))
    t, e = lung_te()
    month = np.ceil(t / 30)
    # R coxph drops the rows with a missing value in any variable of the model
    ecog = lung["ph.ecog"].notna().to_numpy()
    inst = lung["inst"].notna().to_numpy()
    inst_karno = inst & lung["ph.karno"].notna().to_numpy()
    nonmaintained = (aml["x"] == "Nonmaintained").astype(float)
    return {
        "cox_lung_age_sex": (t, e, lung[["age", "sex"]], None, "efron"),
        "cox_lung_age_sex_breslow": (t, e, lung[["age", "sex"]], None, "breslow"),
        "cox_lung_sex": (t, e, lung["sex"], None, "efron"),
        "cox_aml_x": (aml["time"], aml["status"], nonmaintained, None, "efron"),
        "cox_aml_x_breslow": (aml["time"], aml["status"], nonmaintained, None, "breslow"),
        "cox_veteran": (
            veteran["time"],
            veteran["status"],
            veteran[["trt", "karno", "age"]],
            None,
            "efron",
        ),
        "cox_veteran_strata": (
            veteran["time"],
            veteran["status"],
            veteran[["trt", "karno"]],
            veteran["celltype"],
            "efron",
        ),
        "cox_ovarian": (
            ovarian["futime"],
            ovarian["fustat"],
            ovarian[["age", "ecog.ps"]],
            None,
            "efron",
        ),
        "cox_lung_month": (month, e, lung[["age", "sex"]], None, "efron"),
        "cox_lung_month_breslow": (month, e, lung[["age", "sex"]], None, "breslow"),
        "cox_lung_month_strata_ecog": (
            month[ecog],
            e[ecog],
            lung[["age", "sex"]][ecog],
            lung["ph.ecog"][ecog],
            "efron",
        ),
        "cox_lung_age_sex_strata_inst": (
            t[inst],
            e[inst],
            lung[["age", "sex"]][inst],
            lung["inst"][inst],
            "efron",
        ),
        "cox_lung_month_strata_inst_breslow": (
            month[inst_karno],
            e[inst_karno],
            lung[["age", "sex", "ph.karno"]][inst_karno],
            lung["inst"][inst_karno],
            "breslow",
        ),
    }


COX_CASES = cox_cases()


@pytest.mark.parametrize("case", list(COX_CASES))
def test_cox_matches_r_coxph(case: str) -> None:
    """coxph (Efron unless named): coef, se, HR and CI, z, p, loglik, Wald/LR/score tests."""
    t, e, X, strata, ties = COX_CASES[case]
    fit = cox_ph(t, e, X, strata=strata, ties=ties)
    for quantity in ("coef", "se", "hr", "lower", "upper", "z", "p"):
        assert_r(getattr(fit, quantity), case, quantity, rtol=1e-7)
    assert_r(fit.loglik, case, "loglik")
    assert_r(fit.var.ravel(order="F"), case, "var", rtol=1e-7)
    for name in ("wald", "lr", "score"):
        test = getattr(fit, name)
        assert_r([test.chisq, test.df, test.p], case, name, rtol=1e-7)
    assert_r([fit.n], case, "n")
    assert_r([fit.n_event], case, "nevent")


@pytest.mark.parametrize("timefix", [True, False])
def test_near_ties_as_r_timefix(timefix: bool) -> None:
    """R ties times equal but for floating-point noise (1/3 and 1 − 2/3, 0.3 and 0.1·3, 2 and
    2(1 + 1e-9)) in survfit, survdiff and coxph unless timefix = FALSE (survival:::aeqSurv);
    make_reference.R's ``near`` data, read back at 17 digits."""
    t, e, g, x = (r("near_data", v) for v in ("time", "status", "group", "x"))
    suffix = "" if timefix else "_nofix"
    fit = kaplan_meier(t, e, timefix=timefix)
    for quantity in ("time", "n_risk", "n_event", "n_censor", "surv", "std_err", "lower", "upper"):
        assert_r(getattr(fit, quantity), f"near_km{suffix}", quantity)
    (by_group,) = kaplan_meier_by(t, e, np.ones(t.size), timefix=timefix).values()
    np.testing.assert_array_equal(by_group.time, fit.time)
    test = logrank_test(t, e, g, timefix=timefix)
    for quantity in ("chisq", "observed", "expected", "var"):
        value = test.variance.ravel(order="F") if quantity == "var" else getattr(test, quantity)
        assert_r(np.atleast_1d(value), f"lr_near{suffix}", quantity)
    cox = cox_ph(t, e, x, timefix=timefix)
    for quantity in ("coef", "se", "loglik"):
        assert_r(getattr(cox, quantity), f"cox_near{suffix}", quantity, rtol=1e-7)


def test_merge_near_ties_keeps_real_differences() -> None:
    """Only gaps within sqrt(machine epsilon), absolute or relative to the mean |time|, tie:
    days, months and seconds stay distinct; a chain of tiny gaps takes its first time (R)."""
    days = np.arange(0.0, 2000.0)
    np.testing.assert_array_equal(merge_near_ties(days), days)
    months = np.sort(np.arange(1, 5000) / 30.4375)
    np.testing.assert_array_equal(merge_near_ties(months), months)
    chain = np.array([1.0, 1 + 1e-8, 1 + 2e-8, 1 + 3e-8, 4.0])
    assert merge_near_ties(chain).tolist() == [1.0, 1.0, 1.0, 1.0, 4.0]


def test_cox_flags_an_infinite_coefficient() -> None:
    # R: coxph(Surv(c(1, 2, 3, 4), c(1, 1, 1, 1)) ~ c(1, 1, 0, 0)) → coef 21.67834 with the
    # warning "Ran out of iterations and did not converge" (the two first deaths are group 1,
    # so the hazard ratio is infinite)
    fit = cox_ph([1, 2, 3, 4], [1, 1, 1, 1], [1, 1, 0, 0])
    assert not fit.converged and fit.possibly_infinite == (True,)
    assert round(fit.coef[0], 5) == 21.67834
    assert cox_ph(*lung_te(), dataset("lung")["sex"]).possibly_infinite == (False,)


def test_cox_errors() -> None:
    with pytest.raises(ValueError, match="collinear"):
        cox_ph([1, 2, 3, 4], [1, 1, 0, 1], np.c_[[1, 2, 3, 4], [2, 4, 6, 8]])
    with pytest.raises(ValueError, match="no events"):
        cox_ph([1, 2, 3], [0, 0, 0], [1, 2, 3])


# --- properties --------------------------------------------------------------------------------

survival_data = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(min_value=0, max_value=30), min_size=n, max_size=n),
        st.lists(st.integers(min_value=0, max_value=1), min_size=n, max_size=n),
    )
)


@settings(max_examples=150, deadline=None)
@given(survival_data, st.sampled_from(CONF_TYPES))
def test_km_invariants(data, conf_type) -> None:
    """S is non-increasing in [0, 1]; at risk decreases by events + censored; the band
    contains S wherever it is defined; quantiles increase with p and sit inside their CIs."""
    t, e = data
    fit = kaplan_meier(t, e, conf_type=conf_type)
    assert np.all(np.diff(fit.surv) <= 0) and np.all((fit.surv >= 0) & (fit.surv <= 1))
    assert fit.n_risk[0] == len(t) and fit.n_event.sum() + fit.n_censor.sum() == len(t)
    assert np.all(fit.n_risk[1:] == (fit.n_risk - fit.n_event - fit.n_censor)[:-1])
    ok = ~np.isnan(fit.lower)
    assert np.all(fit.lower[ok] <= fit.surv[ok] + 1e-12)
    ok = ~np.isnan(fit.upper)
    assert np.all(fit.upper[ok] >= fit.surv[ok] - 1e-12)
    q = fit.quantiles([0.25, 0.5, 0.75])
    times = [x.time for x in q if not np.isnan(x.time)]
    assert times == sorted(times)
    for x in q:
        if not np.isnan(x.time) and not np.isnan(x.lower):
            assert x.lower <= x.time
        if not np.isnan(x.time) and not np.isnan(x.upper):
            assert x.upper >= x.time


@settings(max_examples=100, deadline=None)
@given(survival_data, st.integers(min_value=1, max_value=5))
def test_censoring_outside_the_events_changes_no_estimate(data, later) -> None:
    """Censorings only act through the risk sets of events at or after them (Kaplan & Meier
    1958): extending the follow-up of patients censored after the last event leaves every S,
    standard error and band unchanged (the curve stays flat at its last value), and a patient
    censored before the first event changes no S either."""
    t, e = np.array(data[0], dtype=float), np.array(data[1])
    fit = kaplan_meier(t, e)
    if e.sum() == 0:
        assert np.all(fit.surv == 1)
        return
    last_event, first_event = t[e == 1].max(), t[e == 1].min()
    moved = np.where((e == 0) & (t > last_event), t + later, t)
    refit = kaplan_meier(moved, e)
    for attr in ("surv", "std_err", "lower", "upper"):
        old, new = getattr(fit, attr), getattr(refit, attr)
        at_events = np.isin(fit.time, t[e == 1])
        np.testing.assert_array_equal(old[at_events], new[np.isin(refit.time, t[e == 1])])
    assert np.all(refit.surv[refit.time >= last_event] == fit.surv[fit.time == last_event][0])
    if first_event > 0:
        before = kaplan_meier(np.append(t, first_event / 2), np.append(e, 0))
        at_events = np.isin(before.time, t[e == 1])
        np.testing.assert_allclose(before.surv[at_events], fit.surv[np.isin(fit.time, t[e == 1])])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=0.1, max_value=100, allow_nan=False), st.booleans(), st.booleans()
        ),
        min_size=4,
        max_size=30,
        unique_by=lambda row: row[0],
    )
)
def test_cox_score_test_is_the_logrank_test_without_ties(rows) -> None:
    """Without tied times, the Cox score test of a two-group indicator equals the log-rank
    chi-square (Cox 1972; Therneau & Grambsch 2000, §3.3), and relabelling groups changes
    nothing in the log-rank test. Times are taken exactly as they are (``timefix=False``: two
    floats one ulp apart are distinct times here)."""
    t = np.array([row[0] for row in rows])
    e = np.array([row[1] for row in rows], dtype=int)
    g = np.array([row[2] for row in rows], dtype=float)
    if e.sum() == 0 or g.min() == g.max():
        return
    test = logrank_test(t, e, g, timefix=False)
    swapped = logrank_test(t, e, 1.0 - g, timefix=False)
    assert test.chisq == pytest.approx(swapped.chisq, rel=1e-9, abs=1e-12)
    assert test.chisq >= 0
    if np.all(test.expected > 0) and test.variance[0, 0] > 1e-12:
        try:
            fit = cox_ph(t, e, g, timefix=False)
        except ValueError:
            return  # an infinite hazard ratio (all events in one group): no estimate
        assert fit.score.chisq == pytest.approx(test.chisq, rel=1e-8, abs=1e-10)


strata_data = st.integers(min_value=2, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(min_value=1, max_value=12), min_size=n, max_size=n),
        st.lists(st.integers(min_value=0, max_value=1), min_size=n, max_size=n),
        st.lists(st.integers(min_value=0, max_value=2), min_size=n, max_size=n),
        st.lists(st.integers(min_value=0, max_value=3), min_size=n, max_size=n),
    )
)


@settings(max_examples=100, deadline=None)
@given(strata_data, st.sampled_from([0.0, 1.0, 0.5]))
def test_stratified_logrank_sums_the_strata(data, rho) -> None:
    """A stratified test's O, E and V are the sums of each stratum's own (R survdiff: Harrington
    & Fleming 1982, §4); the life table of every stratum and group counts each subject once."""
    t, e, g, s = (np.array(x) for x in data)
    try:
        test = logrank_test(t, e, g, strata=s, rho=rho)
        alone_tests = [
            (s == stratum, logrank_test(t[s == stratum], e[s == stratum], g[s == stratum], rho=rho))
            for stratum in np.unique(s)
        ]
    except ValueError as error:
        assert "singular" in str(error)
        assume(False)
    groups = [int(x) for x in test.groups]
    observed = np.zeros(len(groups))
    expected = np.zeros(len(groups))
    variance = np.zeros((len(groups), len(groups)))
    for _, alone in alone_tests:
        cols = [groups.index(int(x)) for x in alone.groups]
        observed[cols] += alone.observed
        expected[cols] += alone.expected
        variance[np.ix_(cols, cols)] += alone.variance
    np.testing.assert_allclose(test.observed, observed, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(test.expected, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(test.variance, variance, rtol=1e-10, atol=1e-12)
    table = risk_table(t.astype(float), e.astype(float), g, 3, s)
    assert table.n_leaving.sum() == t.size and table.n_event.sum() == e.sum()
    for row in range(table.time.size):
        same = s == table.stratum[row]
        for group in range(3):
            mine = same & (g == group)
            assert table.n_risk[group, row] == np.sum(mine & (t >= table.time[row]))
            assert table.n_event[group, row] == np.sum(mine & (t == table.time[row]) & (e == 1))


@settings(max_examples=40, deadline=None)
@given(strata_data)
def test_cox_strata_of_copies(data) -> None:
    """Two strata holding the same subjects give the unstratified estimate, twice its log
    partial likelihood and half its variance (the strata's likelihoods multiply)."""
    t, e, g, _ = (np.array(x) for x in data)
    x = g + 0.1 * t % 3
    if e.sum() == 0 or np.ptp(x) == 0:
        return
    try:
        one = cox_ph(t, e, x)
    except ValueError:
        return
    if not one.converged or any(one.possibly_infinite) or not np.all(one.se < 1e4):
        return  # no finite, well-determined estimate (the likelihood is flat to rounding)
    two = cox_ph(np.tile(t, 2), np.tile(e, 2), np.tile(x, 2), strata=np.repeat([0, 1], t.size))
    np.testing.assert_allclose(two.coef, one.coef, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(two.loglik, 2 * np.array(one.loglik), rtol=1e-9)
    np.testing.assert_allclose(two.var, one.var / 2, rtol=1e-6)


def test_facade_exports_the_kernels() -> None:
    """``oncotrial.stats.survival`` (the import of existing callers) re-exports the kernels'
    own objects, each from exactly one of the modules that define them."""
    import oncotrial.stats.survival as facade

    homes = (km_module, logrank_module, cox_module)
    for name in facade.__all__:
        owners = [m for m in homes if name in vars(m) and vars(m)[name] is getattr(facade, name)]
        assert len(owners) == 1, name
    assert {"kaplan_meier", "kaplan_meier_by", "logrank_test", "cox_ph"} <= set(facade.__all__)


@pytest.mark.parametrize(
    "module", [km_module, logrank_module, cox_module, risk_sets, survival_input]
)
def test_docstring_examples_run(module) -> None:
    """The Example sections of the public functions are true."""
    failures, tried = doctest.testmod(module, extraglobs={"np": np}, report=True)[:2]
    assert tried > 0 and failures == 0


# --- figure ------------------------------------------------------------------------------------


def test_km_plot_is_legible(tmp_path: Path) -> None:
    """Curves, censoring marks, numbers at risk (R summary n.risk at the ticks), ≥ 9 pt fonts,
    150 dpi."""
    t, e = lung_te()
    fits = kaplan_meier_by(t, e, dataset("lung")["sex"].map({1: "male", 2: "female"}))
    fig = km_figure(fits, conf_int=True, risk_times=[0, 180, 365, 730], xlabel="Days")
    fig.canvas.draw()
    texts = [x for x in fig.findobj(Text) if x.get_visible() and x.get_text().strip()]
    assert min(x.get_fontsize() for x in texts) >= MIN_FONT_PT
    shown = [x.get_text() for x in texts]
    assert "Number at risk" in shown
    # R: summary(survfit(...), times = c(0, 5, 90, 180, 365, 540, 730, ...))$n.risk per sex
    # (lung_sex1/2 references); at 0, 180, 365, 730: male 138 89 35 ..., female 90 71 30 ...
    for sex, label in ((1, "male"), (2, "female")):
        expected = r(f"lung_sex{sex}_log", "at_n_risk")[[0, 3, 4, 6]].astype(int)
        assert fits[label].n_risk_at([0, 180, 365, 730]).tolist() == expected.tolist()
        row = [x for x in texts if x.get_text() in {str(n) for n in expected}]
        assert len(row) >= len(set(expected.tolist()))
    path = plot_km(fits, tmp_path / "km.png", conf_int=True)
    with Image.open(path) as image:
        assert round(image.info["dpi"][0]) == 150
    assert plot_km(fits["male"], tmp_path / "km.pdf").stat().st_size > 1000
