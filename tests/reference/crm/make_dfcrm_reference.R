# Reference numbers for tests/test_crm_dfcrm.py from the dfcrm package itself (Cheung's
# software for the CRM: getprior, crm, titecrm), installed from its CRAN GitHub mirror with
#   R CMD INSTALL dfcrm        (version 0.2-2.1; R 4.2.2)
# Run from this folder:  Rscript make_dfcrm_reference.R > dfcrm_reference.csv
# The cases are those of make_crm_reference.R (a base-R implementation of the same
# definitions); here every number is dfcrm's. Dose levels are written 0-based (as in the Python
# code); "index" is the position within each vector.
suppressPackageStartupMessages(library(dfcrm))
options(digits = 17)
cat("case,quantity,index,value\n")
out <- function(case, quantity, values) {
  for (i in seq_along(values)) cat(sprintf("%s,%s,%d,%.15e\n", case, quantity, i - 1L, values[i]))
}

# --- 1. skeletons: getprior(halfwidth, target, nu, nlevel, model) -------------------------
out("skeleton_e_0.05_0.25_3_5", "skeleton", getprior(0.05, 0.25, 3, 5))
out("skeleton_e_0.04_0.20_4_6", "skeleton", getprior(0.04, 0.20, 4, 6))
out("skeleton_l_0.10_0.25_3_6", "skeleton", getprior(0.10, 0.25, 3, 6, model = "logistic"))

# --- 2. the crm() help-page data, empiric and logistic (a0 = 3), prior variance 1.34 -------
skel <- c(0.05, 0.10, 0.20, 0.35, 0.50, 0.70)
lev <- c(3, 4, 4, 3, 3, 4, 3, 2, 2, 2)
y <- c(0, 0, 1, 0, 0, 1, 1, 0, 0, 0)
for (model in c("empiric", "logistic")) {
  r <- crm(skel, 0.2, y, lev, model = model, var.est = TRUE)
  case <- paste0("dfcrm_example_", model)
  out(case, "beta", r$estimate); out(case, "beta_var", r$post.var); out(case, "ptox", r$ptox)
  out(case, "mtd", r$mtd - 1)
}

# --- 3. 2 DLTs in 3 patients at dose 1 ------------------------------------------------------
r <- crm(skel, 0.2, c(1, 1, 0), c(1, 1, 1))
out("safety_2of3", "beta", r$estimate); out("safety_2of3", "mtd", r$mtd - 1)

# --- 4. TITE-CRM: linear and adaptive weights (Cheung & Chappell 2000), window 28 days -------
t_lev <- c(1, 2, 2, 3, 3, 3, 3, 2)
t_y <- c(0, 0, 1, 0, 0, 1, 0, 0)
t_fu <- c(28, 28, 10, 28, 24, 21, 14, 3)
for (scheme in c("linear", "adaptive")) {
  r <- titecrm(skel, 0.2, t_y, t_lev, followup = t_fu, obswin = 28, scheme = scheme)
  out("tite", paste0("weights_", scheme), r$weights)
  out(paste0("tite_", scheme), "beta", r$estimate); out(paste0("tite_", scheme), "ptox", r$ptox)
}

# --- 5. patient-by-patient trials with dfcrm's posterior ---------------------------------------
# cohorts of m; after each complete cohort crm() gives the estimate and its recommended dose;
# the next dose = min(recommendation, current + 1), not above current when the cohort's DLT
# rate >= target (dfcrm's restrict = TRUE rules, as in its crmsim).
trace <- function(case, skel, target, truth, u, n, m, start, model) {
  lev <- integer(0); y <- integer(0); cur <- start
  betas <- c(); recs <- c(); nexts <- c()
  for (c0 in seq(1, n, by = m)) {
    idx <- c0:min(c0 + m - 1, n)
    lev[idx] <- cur
    y[idx] <- as.integer(u[idx] < truth[cur])
    r <- crm(skel, target, y, lev, model = model)
    nxt <- min(r$mtd, cur + 1)
    if (mean(y[idx]) >= target) nxt <- min(nxt, cur)
    betas <- c(betas, r$estimate); recs <- c(recs, r$mtd - 1)
    if (max(idx) < n) { nexts <- c(nexts, nxt - 1); cur <- nxt }
  }
  out(case, "beta", betas); out(case, "mtd", recs); out(case, "next", nexts)
  out(case, "levels", lev - 1); out(case, "dlt", y); out(case, "u", u)
}
set.seed(20110101)
u1 <- runif(20)
trace("trace_m1_empiric", skel, 0.2, c(0.06, 0.12, 0.22, 0.33, 0.50, 0.65), u1, 20, 1, 3, "empiric")
set.seed(20091227)
u3 <- runif(24)
sk3 <- getprior(0.05, 0.25, 3, 6)
trace("trace_m3_empiric", sk3, 0.25, c(0.08, 0.15, 0.30, 0.45, 0.60, 0.75), u3, 24, 3, 1, "empiric")
trace("trace_m3_logistic", sk3, 0.25, c(0.08, 0.15, 0.30, 0.45, 0.60, 0.75), u3, 24, 3, 1, "logistic")
