# Exact selection probabilities of ROSE designs by direct double sums of R's dbinom, to check
# oncotrial.designs.rose.operating_characteristics (tests/test_rose.py).
# Select the higher dose when x_H - x_L > k (k = floor(lambda * n)); two-stage: early when the
# interim difference exceeds k1, else at the end when the total difference exceeds k.
# Run: Rscript tests/reference/rose/exact_pcs.R > tests/reference/rose/exact_pcs.json
suppressPackageStartupMessages(library(jsonlite))
one_stage <- function(n, k, pl, ph) {
  s <- 0
  for (xl in 0:n) for (xh in 0:n) if (xh - xl > k) s <- s + dbinom(xl, n, pl) * dbinom(xh, n, ph)
  s
}
two_stage <- function(n, k, n1, k1, pl, ph) {
  m <- n - n1
  early <- 0
  late <- 0
  for (a in 0:n1) for (b in 0:n1) {
    w <- dbinom(a, n1, pl) * dbinom(b, n1, ph)
    if (b - a > k1) {
      early <- early + w
    } else {
      for (c in 0:m) for (d in 0:m) {
        if ((b + d) - (a + c) > k) late <- late + w * dbinom(c, m, pl) * dbinom(d, m, ph)
      }
    }
  }
  c(select_high = early + late, early_high = early)
}
cases <- list(
  list(n = 23, k = 1, pl = 0.3, ph = 0.3), list(n = 23, k = 1, pl = 0.2, ph = 0.3),
  list(n = 19, k = 1, n1 = 10, k1 = 1, pl = 0.3, ph = 0.3),
  list(n = 19, k = 1, n1 = 10, k1 = 1, pl = 0.2, ph = 0.3),
  list(n = 31, k = 2, n1 = 16, k1 = 2, pl = 0.4, ph = 0.4),
  list(n = 31, k = 2, n1 = 16, k1 = 2, pl = 0.3, ph = 0.4),
  list(n = 31, k = 2, n1 = 16, k1 = 2, pl = 0.25, ph = 0.45)
)
out <- lapply(cases, function(cs) {
  if (is.null(cs$n1)) {
    c(cs, select_high = one_stage(cs$n, cs$k, cs$pl, cs$ph), early_high = 0)
  } else {
    r <- two_stage(cs$n, cs$k, cs$n1, cs$k1, cs$pl, cs$ph)
    c(cs, select_high = unname(r["select_high"]), early_high = unname(r["early_high"]))
  }
})
cat(toJSON(list(source = paste(R.version.string, "dbinom double sums"), cases = out),
           auto_unbox = TRUE, digits = 15, pretty = TRUE))
cat("\n")
