# Reference numbers for tests/test_survival.py, made with R's survival package (the independent
# implementation the Python kernels in oncotrial.stats.survival are checked against).
# Run from this folder:  Rscript make_reference.R
# Writes the data sets (lung, aml, ovarian, veteran from survival's own data, unchanged) as CSV,
# survival_reference.csv (case, quantity, index, value; 17 significant digits, "NA" for R's NA
# and NaN) and R_VERSION. Made with R 4.2.2 and survival 3.5-3. Indices are 1-based.
suppressPackageStartupMessages(library(survival))
options(digits = 17)

write.csv(survival::lung, "lung.csv", row.names = FALSE, na = "")
write.csv(survival::aml, "aml.csv", row.names = FALSE, na = "")
write.csv(survival::ovarian, "ovarian.csv", row.names = FALSE, na = "")
write.csv(survival::veteran, "veteran.csv", row.names = FALSE, na = "")
writeLines(c(R.version.string, paste("survival", packageVersion("survival"))), "R_VERSION")

rows <- list()
out <- function(case, quantity, values) {
  values <- as.numeric(values)
  txt <- ifelse(is.na(values), "NA", sprintf("%.17g", values))
  rows[[length(rows) + 1]] <<- data.frame(
    case = case, quantity = quantity, index = seq_along(values), value = txt
  )
}

# --- Kaplan-Meier curves: every time point, each conf.type --------------------------------
curve <- function(case, fit) {
  out(case, "time", fit$time)
  out(case, "n_risk", fit$n.risk)
  out(case, "n_event", fit$n.event)
  out(case, "n_censor", fit$n.censor)
  out(case, "surv", fit$surv)
  out(case, "std_err", fit$std.err)          # R's std.err: of log S (sqrt of the Greenwood sum)
  out(case, "lower", fit$lower)
  out(case, "upper", fit$upper)
}
quantiles <- function(case, fit, probs = c(0.25, 0.5, 0.75)) {
  q <- quantile(fit, probs = probs)
  out(case, "probs", probs)
  out(case, "quantile", q$quantile)
  out(case, "quantile_lower", q$lower)
  out(case, "quantile_upper", q$upper)
  tab <- summary(fit)$table                  # what print.survfit shows
  out(case, "print_median", tab["median"])
  out(case, "print_lcl", tab[grep("LCL", names(tab))])
  out(case, "print_ucl", tab[grep("UCL", names(tab))])
}
landmarks <- function(case, fit, times, extend = FALSE) {
  s <- summary(fit, times = times, extend = extend)
  out(case, "at_time", s$time)
  out(case, "at_surv", s$surv)
  out(case, "at_std_err", s$std.err)         # summary's std.err: of S itself
  out(case, "at_lower", s$lower)
  out(case, "at_upper", s$upper)
  out(case, "at_n_risk", s$n.risk)
  out(case, "at_n_event", s$n.event)
  out(case, "at_n_censor", s$n.censor)
}
lung_times <- c(0, 5, 90, 180, 365, 540, 730, 1000, 1100)
for (ct in c("log", "log-log", "plain")) {
  fit <- survfit(Surv(time, status) ~ 1, data = lung, conf.type = ct)
  case <- paste0("lung_", ct)
  curve(case, fit)
  quantiles(case, fit)
  landmarks(case, fit, lung_times)
  landmarks(paste0(case, "_extend"), fit, lung_times, extend = TRUE)
  fit90 <- survfit(Surv(time, status) ~ 1, data = lung, conf.type = ct, conf.int = 0.9)
  curve(paste0(case, "_90"), fit90)
  quantiles(paste0(case, "_90"), fit90)
  for (sex in 1:2) {
    fs <- survfit(Surv(time, status) ~ 1, data = lung[lung$sex == sex, ], conf.type = ct)
    case <- paste0("lung_sex", sex, "_", ct)
    if (ct == "log") curve(case, fs)
    quantiles(case, fs)
    landmarks(case, fs, lung_times)
  }
}
# by-group fit in one call must equal the per-group fits above
fit <- survfit(Surv(time, status) ~ sex, data = lung)
q <- quantile(fit)
out("lung_by_sex", "quantile", t(q$quantile))
out("lung_by_sex", "strata", fit$strata)
for (ct in c("log", "log-log", "plain")) {
  fit <- survfit(Surv(time, status) ~ x, data = aml, conf.type = ct)
  curve(paste0("aml_by_x_", ct), fit)
  fa <- survfit(Surv(time, status) ~ 1, data = aml, conf.type = ct)
  curve(paste0("aml_", ct), fa)
  quantiles(paste0("aml_", ct), fa)
  landmarks(paste0("aml_", ct), fa, c(10, 20, 30, 48, 100))
}
fo <- survfit(Surv(futime, fustat) ~ 1, data = ovarian)
curve("ovarian_log", fo)
quantiles("ovarian_log", fo)

# reverse Kaplan-Meier: censoring is the "event" (median follow-up)
fr <- survfit(Surv(time, status == 1) ~ 1, data = lung)
curve("lung_reverse", fr)
quantiles("lung_reverse", fr)

# small curves for the quantile conventions: S flat at exactly 0.5 over an interval (midpoint),
# flat at 0.5 to the end (quantile.survfit and print.survfit differ), median not reached
tiny <- list(
  flat_mid = list(time = 1:6, status = rep(1, 6)),
  flat_end = list(time = c(1, 2, 3, 4), status = c(1, 1, 0, 0)),
  not_reached = list(time = c(1, 2, 3, 4, 5, 6), status = c(1, 0, 0, 1, 0, 0)),
  all_die = list(time = c(2, 2, 3, 5, 5, 8), status = c(1, 1, 1, 0, 1, 1)),
  censor_first = list(time = c(1, 2, 3, 4, 5), status = c(0, 0, 1, 0, 1))
)
for (nm in names(tiny)) {
  d <- as.data.frame(tiny[[nm]])
  for (ct in c("log", "log-log", "plain")) {
    ft <- survfit(Surv(time, status) ~ 1, data = d, conf.type = ct)
    case <- paste0("tiny_", nm, "_", ct)
    curve(case, ft)
    quantiles(case, ft)
    landmarks(case, ft, c(0, 0.5, 1, 2.5, 4, 6))
  }
}

# --- log-rank (survdiff) ------------------------------------------------------------------
logrank <- function(case, sd) {
  o <- if (is.matrix(sd$obs)) rowSums(sd$obs) else sd$obs
  e <- if (is.matrix(sd$exp)) rowSums(sd$exp) else sd$exp
  df <- sum(e > 0) - 1
  out(case, "chisq", sd$chisq)
  out(case, "df", df)
  out(case, "p", pchisq(sd$chisq, df, lower.tail = FALSE))
  out(case, "observed", o)
  out(case, "expected", e)
  out(case, "var", sd$var)
  out(case, "n", sd$n)
}
logrank("lr_lung_sex", survdiff(Surv(time, status) ~ sex, data = lung))
logrank("lr_lung_sex_rho1", survdiff(Surv(time, status) ~ sex, data = lung, rho = 1))
lung_e <- lung[!is.na(lung$ph.ecog), ]
logrank("lr_lung_ecog", survdiff(Surv(time, status) ~ ph.ecog, data = lung_e))
logrank("lr_lung_sex_strata_ecog",
        survdiff(Surv(time, status) ~ sex + strata(ph.ecog), data = lung_e))
# veteran$celltype is a factor with levels squamous, smallcell, adeno, large (in that order)
logrank("lr_veteran_celltype", survdiff(Surv(time, status) ~ celltype, data = veteran))
logrank("lr_veteran_trt_strata_celltype",
        survdiff(Surv(time, status) ~ trt + strata(celltype), data = veteran))
logrank("lr_aml_x", survdiff(Surv(time, status) ~ x, data = aml))
logrank("lr_ovarian_rx", survdiff(Surv(futime, fustat) ~ rx, data = ovarian))
# weights within strata, k > 2 groups with a non-integer rho, heavy ties, many strata
logrank("lr_lung_sex_rho1_strata_ecog",
        survdiff(Surv(time, status) ~ sex + strata(ph.ecog), data = lung_e, rho = 1))
logrank("lr_lung_ecog_rho05", survdiff(Surv(time, status) ~ ph.ecog, data = lung_e, rho = 0.5))
logrank("lr_veteran_celltype_rho1_strata_trt",
        survdiff(Surv(time, status) ~ celltype + strata(trt), data = veteran, rho = 1))
lung_m <- lung
lung_m$month <- ceiling(lung_m$time / 30)
logrank("lr_lung_month_sex", survdiff(Surv(month, status) ~ sex, data = lung_m))
logrank("lr_lung_month_sex_rho1", survdiff(Surv(month, status) ~ sex, data = lung_m, rho = 1))
lung_i <- lung[!is.na(lung$inst), ]
logrank("lr_lung_sex_strata_inst", survdiff(Surv(time, status) ~ sex + strata(inst), data = lung_i))
logrank("lr_lung_sex_rho1_strata_inst",
        survdiff(Surv(time, status) ~ sex + strata(inst), data = lung_i, rho = 1))
# group "c" is censored before any event (no expected events: df drops to 1); stratum 2 ends
# with everybody at risk dying at its last time
tiny_lr <- data.frame(
  time = c(1, 2, 3, 4, 5, 6, 2, 3, 3, 4, 4),
  status = c(0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1),
  group = c("c", "a", "b", "a", "b", "a", "a", "b", "a", "b", "a"),
  stratum = c(1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2)
)
logrank("lr_tiny_unused_group", survdiff(Surv(time, status) ~ group, data = tiny_lr))
logrank("lr_tiny_unused_group_strata_rho1",
        survdiff(Surv(time, status) ~ group + strata(stratum), data = tiny_lr, rho = 1))

# --- Cox proportional hazards ---------------------------------------------------------------
cox <- function(case, fit) {
  s <- summary(fit)
  out(case, "coef", coef(fit))
  out(case, "se", sqrt(diag(vcov(fit))))
  out(case, "hr", exp(coef(fit)))
  out(case, "lower", s$conf.int[, "lower .95"])
  out(case, "upper", s$conf.int[, "upper .95"])
  out(case, "z", s$coefficients[, "z"])
  out(case, "p", s$coefficients[, "Pr(>|z|)"])
  out(case, "loglik", fit$loglik)
  # test, df, p-value; summary() rounds the Wald statistic to 2 decimals, fit$wald.test does not
  out(case, "wald", c(fit$wald.test, s$waldtest[2:3]))
  out(case, "lr", s$logtest)
  out(case, "score", s$sctest)
  out(case, "n", fit$n)
  out(case, "nevent", fit$nevent)
  out(case, "var", vcov(fit))
}
cox("cox_lung_age_sex", coxph(Surv(time, status) ~ age + sex, data = lung))
cox("cox_lung_age_sex_breslow",
    coxph(Surv(time, status) ~ age + sex, data = lung, ties = "breslow"))
cox("cox_lung_sex", coxph(Surv(time, status) ~ sex, data = lung))
cox("cox_aml_x", coxph(Surv(time, status) ~ x, data = aml))
cox("cox_aml_x_breslow", coxph(Surv(time, status) ~ x, data = aml, ties = "breslow"))
cox("cox_veteran", coxph(Surv(time, status) ~ trt + karno + age, data = veteran))
cox("cox_veteran_strata", coxph(Surv(time, status) ~ trt + karno + strata(celltype),
                                data = veteran))
cox("cox_ovarian", coxph(Surv(futime, fustat) ~ age + ecog.ps, data = ovarian))
# heavy ties: lung times in 30-day months
lung$month <- ceiling(lung$time / 30)
cox("cox_lung_month", coxph(Surv(month, status) ~ age + sex, data = lung))
cox("cox_lung_month_breslow",
    coxph(Surv(month, status) ~ age + sex, data = lung, ties = "breslow"))
# heavy ties within strata, many strata (18 institutions)
cox("cox_lung_month_strata_ecog",
    coxph(Surv(month, status) ~ age + sex + strata(ph.ecog), data = lung))
lung$inst_f <- lung$inst
cox("cox_lung_age_sex_strata_inst",
    coxph(Surv(time, status) ~ age + sex + strata(inst_f), data = lung[!is.na(lung$inst), ]))
cox("cox_lung_month_strata_inst_breslow",
    coxph(Surv(month, status) ~ age + sex + ph.karno + strata(inst_f),
          data = lung[!is.na(lung$inst), ], ties = "breslow"))

# --- times equal but for floating-point noise: R ties them (timefix = TRUE, aeqSurv) ---------
# 1/3 and 1 - 2/3, 0.3 and 0.1 * 3, 2 and 2 + 1e-9 (relative), 5 and 5 + 5e-9 differ in the last
# bits only; the data are written at 17 digits so that the tests read the same doubles
near <- data.frame(
  time = c(1 / 3, 1 - 2 / 3, 0.3, 0.1 * 3, 2, 2 * (1 + 1e-9), 2.5, 5, 5 + 5e-9, 5, 7, 8, 9, 9.5),
  status = c(1, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1),
  group = c(1, 2, 1, 2, 2, 1, 1, 2, 1, 2, 1, 2, 1, 2),
  x = c(0.5, -1, 2, 0, 1.5, -0.5, 1, 0.25, -2, 3, 0, 1, -1, 0.75)
)
for (v in names(near)) out("near_data", v, near[[v]])
for (fix in c(TRUE, FALSE)) {
  suffix <- if (fix) "" else "_nofix"
  curve(paste0("near_km", suffix), survfit(Surv(time, status) ~ 1, data = near, timefix = fix))
  # survdiff(timefix = FALSE) fails in survival 3.5-3 (the argument reaches model.frame); the
  # test depends on the order of the times only, so exact ranks give the untied test
  near$order <- if (fix) near$time else rank(near$time, ties.method = "min")
  logrank(paste0("lr_near", suffix), survdiff(Surv(order, status) ~ group, data = near))
  cox(paste0("cox_near", suffix), coxph(Surv(time, status) ~ x, data = near,
                                        control = coxph.control(timefix = fix)))
}

res <- do.call(rbind, rows)
write.csv(res, "survival_reference.csv", row.names = FALSE, quote = FALSE)
