"""The survival kernels in one import, following R's ``survival`` package (Therneau; 3.5):

- :mod:`oncotrial.stats.km` — Kaplan–Meier curves, bands, quantiles, landmarks, follow-up;
- :mod:`oncotrial.stats.logrank` — log-rank and G-rho tests of k groups, stratified;
- :mod:`oncotrial.stats.cox` — Cox proportional hazards (Efron or Breslow ties), stratified;
- :mod:`oncotrial.stats.risk_sets` and :mod:`oncotrial.stats.survival_input` — the sort, risk
  tables and input checks they share.

The kernels know nothing of trials: times are numbers, events are 0/1, groups are labels.
"""

from oncotrial.stats.cox import ChiSquareTest, CoxFit, Ties, cox_ph
from oncotrial.stats.km import (
    CONF_TYPES,
    QUANTILE_TOL,
    ConfType,
    KaplanMeier,
    QuantileRule,
    SurvivalAt,
    SurvivalQuantile,
    kaplan_meier,
    kaplan_meier_by,
    median_followup,
    pointwise_ci,
)
from oncotrial.stats.logrank import LogRankTest, logrank_test

__all__ = [
    "CONF_TYPES",
    "QUANTILE_TOL",
    "ChiSquareTest",
    "ConfType",
    "CoxFit",
    "KaplanMeier",
    "LogRankTest",
    "QuantileRule",
    "SurvivalAt",
    "SurvivalQuantile",
    "Ties",
    "cox_ph",
    "kaplan_meier",
    "kaplan_meier_by",
    "logrank_test",
    "median_followup",
    "pointwise_ci",
]
