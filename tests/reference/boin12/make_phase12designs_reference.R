# Operating characteristics of BOIN12 from an independent implementation: oc_boin12() of the
# R package phase12designs (Angela Cao, Haolun Shi; github.com/Angela-Cao/phase12designs,
# commit 6cdcb37d0e8f4987f88a67e8fbadffe960e5a91e), which follows the BOIN12 authors' simulation
# code. Run from a checkout of that repository:
#
#   Rscript make_phase12designs_reference.R PATH/TO/phase12designs > phase12designs_oc.csv
#
# oc_boin12() returns the percentage of patients and the selection percentage at the dose it
# is told is the OBD, so each scenario is run once per dose with the same seed (the same
# simulated trials) to read the allocation at every dose. Its trial has no early stop on the
# number at a dose (n.earlystop = maximum sample size). R packages: Iso.
args <- commandArgs(trailingOnly = TRUE)
root <- args[1]
suppressMessages(library(Iso))
source(file.path(root, "R", "utils.R"))
source(file.path(root, "R", "oc_boin12.R"))
# Iso >= 0.0-18 reads ufit(lmode =) as a location in x; this code was written when it was the
# index of the mode. The shim keeps the older meaning (used only by its final OBD selection).
ufit <- function(y, lmode, x, w) Iso::ufit(y, imode = lmode, w = w)

ntrial <- 5000
scenarios <- list(
  A = list(pT = c(0.05, 0.15, 0.30, 0.45, 0.60), pE = c(0.10, 0.30, 0.50, 0.50, 0.50)),
  B = list(pT = c(0.02, 0.05, 0.08, 0.12, 0.20), pE = c(0.20, 0.40, 0.60, 0.50, 0.40)),
  C = list(pT = c(0.30, 0.45, 0.55, 0.65, 0.75), pE = c(0.05, 0.10, 0.20, 0.30, 0.40)),
  D = list(pT = c(0.05, 0.08, 0.10, 0.15, 0.20), pE = c(0.05, 0.05, 0.08, 0.10, 0.30))
)
cat("scenario,metric,dose,value\n")
for (name in names(scenarios)) {
  s <- scenarios[[name]]
  for (k in seq_along(s$pT)) {
    set.seed(2024)
    r <- oc_boin12(
      ndose = length(s$pT), target_t = 0.35, lower_e = 0.25, ncohort = 10, cohortsize = 3,
      startdose = 1, psafe = 0.95, pfutility = 0.9, ntrial = ntrial, utilitytype = 1,
      prob = list(pE = s$pE, pT = s$pT, obd = k, mtd = length(s$pT))
    )
    cat(sprintf("%s,pct_patients,%d,%.6f\n", name, k, r$bd.pts))
    if (k == 1) {
      cat(sprintf("%s,early_stop_pct,0,%.6f\n", name, r$earlystop))
      cat(sprintf("%s,mean_dlts,0,%.6f\n", name, r$ntox))
      cat(sprintf("%s,mean_responses,0,%.6f\n", name, r$neff))
      cat(sprintf("%s,trials,0,%d\n", name, ntrial))
    }
  }
}
