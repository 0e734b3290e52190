# Reference draws from R's default generator (Mersenne-Twister, Inversion, Rejection) for
# tests/test_rstream.py. Run from this folder: Rscript make_reference.R
# Writes runif_reference.csv (seed, index, value with 17 significant digits) and
# random_seed_6.txt (.Random.seed right after set.seed(6)) and formatC_reference.txt.
RNGkind("Mersenne-Twister", "Inversion", "Rejection")
seeds <- c(1L, 42L, 123L, 0L, 6L, -1L, 2147483647L, -2147483647L, 20201119L)
idx <- c(1:12, 620:630, 1245:1250, 5000L)
rows <- list()
for (s in seeds) {
  set.seed(s)
  u <- runif(max(idx))
  rows[[length(rows) + 1]] <- data.frame(seed = s, index = idx, value = sprintf("%.17g", u[idx]))
}
out <- do.call(rbind, rows)
write.csv(out, "runif_reference.csv", row.names = FALSE, quote = FALSE)
set.seed(6)
writeLines(as.character(.Random.seed), "random_seed_6.txt")
writeLines(R.version.string, "R_VERSION")
# How summary(get.oc(...)) rounds: formatC(digits = 1, format = "f") on exact binary ties.
writeLines(formatC(c(0.25, 77.75, 18.42, 0.05, 2.5, 0.35, 3.83), digits = 1, format = "f"),
           "formatC_reference.txt")
