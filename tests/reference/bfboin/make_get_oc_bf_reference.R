# Operating characteristics of BF-BOIN from the authors' R package bfboin (openpharma/bfboin
# 0.1.1, get.oc.bf; Zhao, Yuan, Korn & Freidlin 2024). Run:
#
#   Rscript make_get_oc_bf_reference.R > get_oc_bf_reference.csv
#
# bfboin lets a dose take one more backfilled patient than its n.cap (it backfills while the
# patients at the dose are <= n.cap), so n.cap = 11 here is oncotrial's backfill_cap = 12.
# Time unit: months (dlt.window); oncotrial runs the same scenarios with 30-day months.
suppressMessages(library(bfboin))
scenarios <- list(
  S1 = list(p = c(0.05, 0.10, 0.25, 0.40, 0.50), q = c(0.2, 0.3, 0.4, 0.5, 0.5),
            accrual = "uniform", rate = 3, window = 1, earlystop = 9, start = 1,
            extrasafe = FALSE, cap = 11),
  S2 = list(p = c(0.05, 0.10, 0.25, 0.40, 0.50), q = c(0.2, 0.3, 0.4, 0.5, 0.5),
            accrual = "poisson", rate = 3, window = 1, earlystop = 9, start = 1,
            extrasafe = FALSE, cap = 11),
  S3 = list(p = c(0.10, 0.25, 0.45, 0.60), q = c(0.05, 0.05, 0.30, 0.30),
            accrual = "uniform", rate = 1, window = 1, earlystop = 100, start = 2,
            extrasafe = FALSE, cap = 11),
  S4 = list(p = c(0.30, 0.45, 0.60), q = c(0.4, 0.4, 0.4),
            accrual = "poisson", rate = 2, window = 1, earlystop = 12, start = 1,
            extrasafe = TRUE, cap = 8),
  S5 = list(p = c(0.02, 0.04, 0.06, 0.08, 0.10), q = c(0.6, 0.6, 0.6, 0.6, 0.6),
            accrual = "uniform", rate = 6, window = 2, earlystop = 100, start = 1,
            extrasafe = FALSE, cap = 11),
  S6 = list(p = c(0.08, 0.15, 0.22, 0.35, 0.50), q = c(0.3, 0.3, 0.3, 0.3, 0.3),
            accrual = "poisson", rate = 5, window = 1.5, earlystop = 100, start = 1,
            extrasafe = FALSE, cap = 11)
)
ntrial <- 4000
cat("scenario,metric,dose,value\n")
for (name in names(scenarios)) {
  s <- scenarios[[name]]
  oc <- get.oc.bf(ntrial = ntrial, seed = 2024, target = 0.25, p.true = s$p, ncohort = 10,
                  cohortsize = 3, n.earlystop = s$earlystop, startdose = s$start,
                  extrasafe = s$extrasafe, offset = 0.05, n.cap = s$cap,
                  n.per.month = s$rate, dlt.window = s$window, p.response.true = s$q,
                  accrual = s$accrual)
  for (k in seq_along(s$p)) {
    cat(sprintf("%s,selected_pct,%d,%.6f\n", name, k, oc$selpercent[k]))
    cat(sprintf("%s,mean_patients,%d,%.6f\n", name, k, oc$npatients[k]))
    cat(sprintf("%s,mean_dlts,%d,%.6f\n", name, k, oc$ntox[k]))
  }
  cat(sprintf("%s,no_selection_pct,0,%.6f\n", name, oc$percentstop))
  cat(sprintf("%s,mean_n,0,%.6f\n", name, oc$totaln))
  cat(sprintf("%s,mean_duration_months,0,%.6f\n", name, oc$duration))
  cat(sprintf("%s,trials,0,%d\n", name, ntrial))
}
