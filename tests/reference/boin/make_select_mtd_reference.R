# BOIN::select.mtd (BOIN package, CRAN mirror cran/BOIN) on random dose-count patterns: the MTD
# the select_boin_mtd behaviour must pick (escalation's select_boin_mtd calls select.mtd).
# Run: Rscript tests/reference/boin/make_select_mtd_reference.R > tests/reference/boin/select_mtd.json
suppressMessages(library(BOIN))
suppressMessages(library(jsonlite))
set.seed(20251203)
cases <- list()
for (i in 1:300) {
  target <- sample(c(0.25, 0.3), 1)
  npts <- sample(0:12, 5, replace = TRUE)
  ntox <- sapply(npts, function(m) if (m == 0) 0 else sample(0:m, 1, prob = dbinom(0:m, m, 0.3)))
  fit <- select.mtd(target = target, npts = npts, ntox = ntox)
  mtd <- if (fit$MTD == 99) NULL else fit$MTD
  cases[[i]] <- list(target = target, n = npts, y = ntox, mtd = mtd)
}
# Yan, Pan, Zhang, Liu & Yuan (2020, J Stat Softw 94(13)) example quoted by escalation's tests
fit <- select.mtd(target = 0.3, npts = c(3, 3, 15, 9, 0), ntox = c(0, 0, 4, 4, 0))
cases[[301]] <- list(target = 0.3, n = c(3, 3, 15, 9, 0), y = c(0, 0, 4, 4, 0), mtd = fit$MTD)
cat(toJSON(list(source = paste("BOIN", packageVersion("BOIN"), "select.mtd, defaults"),
                cases = cases), auto_unbox = TRUE, null = "null", digits = NA))
