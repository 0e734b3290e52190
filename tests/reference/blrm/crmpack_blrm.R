# Independent MCMC reference for oncotrial's BLRM posterior (tests/test_blrm.py).
#
# crmPack::LogisticLogNormal is the two-parameter logistic model of Neuenschwander, Branson &
# Gsponer (2008): logit p(x) = alpha0 + alpha1 * log(x / ref_dose), (alpha0, log alpha1) ~ BVN.
# Its posterior is sampled by JAGS (rjags). For each case this prints, per dose, the posterior
# mean DLT probability and the posterior probabilities of under-dosing [0, 0.16), target
# [0.16, 0.33) and over-dosing [0.33, 1], each with its Monte-Carlo standard error by batch
# means (100 batches), which absorbs the chain's autocorrelation.
#
# Run (R 4.x, crmPack 2.0.1, rjags with JAGS 4.3.1), from the repository root:
#   Rscript tests/reference/blrm/crmpack_blrm.R > tests/reference/blrm/crmpack_blrm.json
suppressPackageStartupMessages({
  library(crmPack)
  library(jsonlite)
})

cases <- list(
  list(
    name = "donafenib-two-dlts-at-400",
    doses = c(100, 200, 400, 600), ref_dose = 400,
    mean = c(qlogis(1 / 3), 0), sd = c(2, 1), corr = 0,
    n = c(3, 3, 6, 0), y = c(0, 0, 2, 0)
  ),
  list(
    name = "donafenib-toxic-start",
    doses = c(100, 200, 400, 600), ref_dose = 400,
    mean = c(qlogis(1 / 3), 0), sd = c(2, 1), corr = 0,
    n = c(3, 3, 0, 0), y = c(1, 2, 0, 0)
  ),
  list(
    name = "neuenschwander-2008-example",
    doses = c(1, 2.5, 5, 10, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200, 250), ref_dose = 250,
    mean = c(qlogis(0.5), 0), sd = c(2, 1), corr = 0,
    n = c(3, 4, 5, 4, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0),
    y = c(0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0)
  ),
  list(
    name = "crmpack-default-correlated-prior",
    doses = c(0.1, 0.5, 1.5, 3, 6, 10, 20, 40, 56, 80), ref_dose = 56,
    mean = c(-0.85, 1), sd = c(1, 1), corr = -0.5,
    n = c(1, 1, 1, 1, 1, 3, 3, 0, 0, 0), y = c(0, 0, 0, 0, 0, 1, 1, 0, 0, 0)
  )
)

batch_se <- function(v, batches = 100) {
  m <- floor(length(v) / batches)
  means <- colMeans(matrix(v[seq_len(m * batches)], nrow = m))
  sd(means) / sqrt(batches)
}

cuts <- c(0.16, 0.33)
options <- McmcOptions(burnin = 5000, step = 2, samples = 1000000, rng_kind = "Mersenne-Twister",
                       rng_seed = 20260101)
out <- lapply(cases, function(cs) {
  cov <- diag(cs$sd) %*% matrix(c(1, cs$corr, cs$corr, 1), 2) %*% diag(cs$sd)
  x <- rep(cs$doses, cs$n)
  y <- unlist(mapply(function(n, k) c(rep(1L, k), rep(0L, n - k)), cs$n, cs$y))
  tried <- which(cs$n > 0)
  data <- Data(
    x = x, y = as.integer(y), ID = seq_along(x),
    cohort = rep(seq_along(tried), cs$n[tried]), doseGrid = cs$doses
  )
  model <- LogisticLogNormal(mean = cs$mean, cov = cov, ref_dose = cs$ref_dose)
  samples <- mcmc(data, model, options)
  per_dose <- lapply(cs$doses, function(d) {
    p <- prob(d, model, samples)
    under <- as.numeric(p < cuts[1])
    target <- as.numeric(p >= cuts[1] & p < cuts[2])
    over <- as.numeric(p >= cuts[2])
    list(
      dose = d,
      mean = mean(p), mean_se = batch_se(p),
      under = mean(under), under_se = batch_se(under),
      target = mean(target), target_se = batch_se(target),
      over = mean(over), over_se = batch_se(over)
    )
  })
  list(
    name = cs$name, doses = cs$doses, ref_dose = cs$ref_dose, mean = cs$mean, sd = cs$sd,
    corr = cs$corr, n = cs$n, y = cs$y, n_samples = length(samples@data$alpha0),
    per_dose = per_dose
  )
})
cat(toJSON(list(
  source = "crmPack 2.0.1 LogisticLogNormal, JAGS 4.3.1 via rjags; McmcOptions(burnin = 5000, step = 2, samples = 1000000)",
  intervals = cuts, cases = out
), auto_unbox = TRUE, digits = 10, pretty = TRUE))
cat("\n")
