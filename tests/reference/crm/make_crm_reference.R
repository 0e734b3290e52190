# Reference numbers for tests/test_crm.py, computed independently of the Python code in base R
# (dfcrm's own numbers for the same cases: make_dfcrm_reference.R). Run from this folder:
#   Rscript make_crm_reference.R > crm_reference.csv
# Every posterior integral uses integrate() over the whole real line, as dfcrm::crm does, with a
# tight tolerance. Dose levels are 1-based in this script and written 0-based to the csv (as in
# the Python code); the "index" column is the position within each vector. Made with R 4.2.2.

options(digits = 17)
PRIOR_VAR <- 1.34
cat("case,quantity,index,value\n")

out <- function(case, quantity, values) {
  for (i in seq_along(values)) {
    cat(sprintf("%s,%s,%d,%.15e\n", case, quantity, i - 1L, values[i]))
  }
}

# --- working models: p_d(beta) ------------------------------------------------------------
ptox_fun <- function(skel, model, a0 = 3) {
  if (model == "empiric") {
    function(beta, d) skel[d]^exp(beta)
  } else {
    x <- log(skel / (1 - skel)) - a0
    function(beta, d) 1 / (1 + exp(-a0 - exp(beta) * x[d]))
  }
}

# posterior of beta for patients at levels `lev` with outcomes `y` and weights `w`
posterior <- function(skel, target, lev, y, w = rep(1, length(lev)), model = "empiric") {
  p <- ptox_fun(skel, model)
  lik <- function(b) {
    sapply(b, function(bb) {
      v <- exp(-bb^2 / (2 * PRIOR_VAR))
      for (i in seq_along(lev)) {
        pi <- p(bb, lev[i])
        v <- v * pi^y[i] * (1 - w[i] * pi)^(1 - y[i])
      }
      if (is.finite(v)) v else 0
    })
  }
  int <- function(f, lo = -Inf, hi = Inf) {
    integrate(f, lo, hi, rel.tol = 1e-12, abs.tol = 0, subdivisions = 2000L)$value
  }
  den <- int(lik)
  m1 <- int(function(b) b * lik(b)) / den
  m2 <- int(function(b) b^2 * lik(b)) / den
  # Pr(p_1 > target): p_1 decreases in beta, so it is Pr(beta < beta*) with p_1(beta*) = target
  bstar <- uniroot(function(b) p(b, 1) - target, c(-20, 20), tol = 1e-14)$root
  tail <- int(lik, -Inf, bstar) / den
  ptox <- sapply(seq_along(skel), function(d) p(m1, d))
  list(beta = m1, var = m2 - m1^2, ptox = ptox, tail = tail,
       best = which.min(abs(ptox - target)))
}

# --- 1. indifference-interval skeleton (Lee & Cheung 2009), solved from its definition ---------
# At the switching value b_k between doses k-1 and k, dose k-1 is at target - delta and dose k at
# target + delta; solved here with uniroot on the model, not with a closed form.
skeleton_by_roots <- function(delta, target, nu, nlevel, model = "empiric", a0 = 3) {
  f <- function(s, b) {
    if (model == "empiric") s^exp(b) else 1 / (1 + exp(-a0 - exp(b) * (log(s / (1 - s)) - a0)))
  }
  solve_b <- function(s, p) uniroot(function(b) f(s, b) - p, c(-30, 30), tol = 1e-15)$root
  solve_s <- function(b, p) uniroot(function(s) f(s, b) - p, c(1e-12, 1 - 1e-9), tol = 1e-15)$root
  skel <- rep(NA_real_, nlevel)
  skel[nu] <- target
  if (nu > 1) for (k in nu:2) skel[k - 1] <- solve_s(solve_b(skel[k], target + delta), target - delta)
  if (nu < nlevel) for (k in nu:(nlevel - 1)) skel[k + 1] <- solve_s(solve_b(skel[k], target - delta), target + delta)
  skel
}
out("skeleton_e_0.05_0.25_3_5", "skeleton", skeleton_by_roots(0.05, 0.25, 3, 5))
out("skeleton_e_0.04_0.20_4_6", "skeleton", skeleton_by_roots(0.04, 0.20, 4, 6))
out("skeleton_l_0.10_0.25_3_6", "skeleton", skeleton_by_roots(0.10, 0.25, 3, 6, "logistic"))

# --- 2. dfcrm::crm documentation example ----------------------------------------------------
skel <- c(0.05, 0.10, 0.20, 0.35, 0.50, 0.70)
lev <- c(3, 4, 4, 3, 3, 4, 3, 2, 2, 2)
y <- c(0, 0, 1, 0, 0, 1, 1, 0, 0, 0)
for (model in c("empiric", "logistic")) {
  r <- posterior(skel, 0.2, lev, y, model = model)
  case <- paste0("dfcrm_example_", model)
  out(case, "beta", r$beta); out(case, "beta_var", r$var); out(case, "ptox", r$ptox)
  out(case, "p_lowest_above_target", r$tail); out(case, "best", r$best - 1)
}

# --- 3. safety: 2 DLTs in 3 patients at dose 1 ---------------------------------------------
r <- posterior(skel, 0.2, c(1, 1, 1), c(1, 1, 0))
out("safety_2of3", "beta", r$beta); out("safety_2of3", "p_lowest_above_target", r$tail)

# --- 4. TITE weights and posterior ----------------------------------------------------------
# eight patients, window 28 days; DLTs of patients 3 and 6 on days 10 and 21
t_lev <- c(1, 2, 2, 3, 3, 3, 3, 2)
t_y <- c(0, 0, 1, 0, 0, 1, 0, 0)
t_fu <- c(28, 28, 10, 28, 24, 21, 14, 3)   # follow-up, or DLT day for a DLT
obswin <- 28
linear <- ifelse(t_y == 1, 1, pmin(t_fu / obswin, 1))
supp <- sort(t_fu[t_y == 1] / obswin)       # observed DLT times as fractions of the window
z <- length(supp)
adaptive <- sapply(seq_along(t_fu), function(i) {
  if (t_y[i] == 1 || t_fu[i] >= obswin) return(1)
  u <- t_fu[i] / obswin
  knots <- c(0, supp, 1)
  k <- sum(supp <= u)
  (k + (u - knots[k + 1]) / (knots[k + 2] - knots[k + 1])) / (z + 1)
})
out("tite", "weights_linear", linear); out("tite", "weights_adaptive", adaptive)
for (scheme in c("linear", "adaptive")) {
  w <- if (scheme == "linear") linear else adaptive
  r <- posterior(skel, 0.2, t_lev, t_y, w)
  out(paste0("tite_", scheme), "beta", r$beta); out(paste0("tite_", scheme), "ptox", r$ptox)
}

# --- 5. patient-by-patient CRM traces (restrict = TRUE rules) --------------------------------
# cohorts of m; after each complete cohort: posterior mean, the dose closest to the target, and
# the next dose = min(best, current + 1), not above current when the cohort DLT rate >= target.
trace <- function(case, skel, target, truth, u, n, m, start, model) {
  lev <- integer(0); y <- integer(0); cur <- start
  betas <- c(); bests <- c(); nexts <- c()
  for (c0 in seq(1, n, by = m)) {
    idx <- c0:min(c0 + m - 1, n)
    lev[idx] <- cur
    y[idx] <- as.integer(u[idx] < truth[cur])
    r <- posterior(skel, target, lev, y, model = model)
    nxt <- min(r$best, cur + 1)
    if (mean(y[idx]) >= target) nxt <- min(nxt, cur)
    betas <- c(betas, r$beta); bests <- c(bests, r$best - 1)
    if (max(idx) < n) { nexts <- c(nexts, nxt - 1); cur <- nxt }
  }
  out(case, "beta", betas); out(case, "best", bests); out(case, "next", nexts)
  out(case, "levels", lev - 1); out(case, "dlt", y); out(case, "u", u)
}
set.seed(20110101)
u1 <- runif(20)
trace("trace_m1_empiric", skel, 0.2, c(0.06, 0.12, 0.22, 0.33, 0.50, 0.65), u1, 20, 1, 3, "empiric")
set.seed(20091227)
u3 <- runif(24)
sk3 <- skeleton_by_roots(0.05, 0.25, 3, 6)
trace("trace_m3_empiric", sk3, 0.25, c(0.08, 0.15, 0.30, 0.45, 0.60, 0.75), u3, 24, 3, 1, "empiric")
trace("trace_m3_logistic", sk3, 0.25, c(0.08, 0.15, 0.30, 0.45, 0.60, 0.75), u3, 24, 3, 1, "logistic")
