# Reference ADEX parameters for tests/test_exposure.py, made by admiral (pharmaverse) from the
# shared pharmaversesdtm EX and pharmaverseadam ADSL, the way admiral's ADEX template
# (inst/templates/ad_adex.R, admiral 1.0.2) derives them: its input changes (EXADJ and a
# zero dose for two subjects' visits, EXPLDOS 54 mg for xanomeline and 0 for placebo), record
# durations EXDURD = end - start + 1 days, DOSE = EXDOSE x EXDURD, and per subject TDOSE,
# TPDOSE, TDURD (sums), TADJ, AVDDSE = TDOSE / TDURD, TDOSINT = 100 TDOSE / TPDOSE.
#
# Run from the repository root (R_LIBS pointing at admiral 1.0.2 and admiraldev 1.0.0,
# installed with R CMD INSTALL from the cran/* GitHub mirrors):
#   Rscript tests/reference/exposure/make_exposure_reference.R
# Writes tests/reference/exposure/adex_overall.csv (USUBJID, PARAMCD, AVAL, AVALC) and
# R_VERSION.
suppressPackageStartupMessages({
  library(admiral)
  library(dplyr)
  library(lubridate)
})

here <- "tests/reference/exposure"
shared <- "../shared/reference/pharmaverse"
read <- function(path) {
  utils::read.csv(path, colClasses = "character", na.strings = character(0))
}
ex <- convert_blanks_to_na(read(file.path(shared, "sdtm", "ex.csv.gz")))
ex$EXDOSE <- as.numeric(ex$EXDOSE)
adsl <- convert_blanks_to_na(read(file.path(shared, "adam", "adsl.csv.gz")))
adsl$TRTSDTM <- as.POSIXct(adsl$TRTSDTM, tz = "UTC")
adsl$TRTEDTM <- as.POSIXct(adsl$TRTEDTM, tz = "UTC")
adsl$TRTSDT <- as.Date(adsl$TRTSDT)

# the template's own input changes (dose adjustments to test, planned dose from SUPPEX)
ex <- ex %>%
  mutate(
    adjusted = (USUBJID == "01-701-1034" & VISIT %in% c("WEEK 2", "WEEK 24")) |
      (USUBJID == "01-701-1148" & VISIT == "WEEK 24"),
    EXADJ = case_when(
      USUBJID == "01-701-1034" & adjusted ~ "ADVERSE EVENT",
      USUBJID == "01-701-1148" & adjusted ~ "MEDICATION ERROR",
      TRUE ~ NA_character_
    ),
    EXDOSE = if_else(adjusted, 0, EXDOSE),
    EXPLDOS = if_else(EXTRT == "PLACEBO", 0, 54)
  ) %>%
  select(-adjusted)

adsl_vars <- exprs(TRTSDT, TRTSDTM, TRTEDTM)
records <- ex %>%
  derive_vars_merged(dataset_add = adsl, new_vars = adsl_vars, by_vars = exprs(STUDYID, USUBJID)) %>%
  derive_vars_dtm(dtc = EXSTDTC, highest_imputation = "M", new_vars_prefix = "AST") %>%
  derive_vars_dtm(
    dtc = EXENDTC, highest_imputation = "M", date_imputation = "last", new_vars_prefix = "AEN"
  ) %>%
  derive_vars_duration(new_var = EXDURD, start_date = ASTDTM, end_date = AENDTM) %>%
  derive_vars_dtm_to_dt(exprs(ASTDTM, AENDTM)) %>%
  mutate(DOSEO = EXDOSE * EXDURD, PDOSEO = EXPLDOS * EXDURD)

adex <- bind_rows(
  records %>% mutate(PARAMCD = "DURD", AVAL = EXDURD),
  records %>% mutate(PARAMCD = "DOSE", AVAL = DOSEO),
  records %>% mutate(PARAMCD = "PLDOSE", AVAL = PDOSEO),
  records %>% mutate(PARAMCD = "ADJ", AVALC = if_else(!is.na(EXADJ), "Y", NA_character_))
) %>%
  mutate(PARCAT1 = "INDIVIDUAL")

add_up <- function(x) sum(x, na.rm = TRUE)
adex <- adex %>%
  call_derivation(
    derivation = derive_param_exposure,
    variable_params = list(
      params(
        set_values_to = exprs(PARAMCD = "TDOSE", PARCAT1 = "OVERALL"),
        input_code = "DOSE", analysis_var = AVAL, summary_fun = add_up
      ),
      params(
        set_values_to = exprs(PARAMCD = "TPDOSE", PARCAT1 = "OVERALL"),
        input_code = "PLDOSE", analysis_var = AVAL, summary_fun = add_up
      ),
      params(
        set_values_to = exprs(PARAMCD = "TDURD", PARCAT1 = "OVERALL"),
        input_code = "DURD", analysis_var = AVAL, summary_fun = add_up
      ),
      params(
        set_values_to = exprs(PARAMCD = "TADJ", PARCAT1 = "OVERALL"),
        input_code = "ADJ", analysis_var = AVALC,
        summary_fun = function(x) if_else(sum(!is.na(x)) > 0, "Y", NA_character_)
      )
    ),
    dataset_add = adex,
    by_vars = exprs(STUDYID, USUBJID, !!!adsl_vars)
  ) %>%
  derive_param_doseint(
    by_vars = exprs(STUDYID, USUBJID, !!!adsl_vars, PARCAT1, ASTDTM, ASTDT, AENDTM, AENDT),
    set_values_to = exprs(PARAMCD = "TDOSINT"),
    tadm_code = "TDOSE", tpadm_code = "TPDOSE"
  ) %>%
  derive_param_computed(
    parameters = c("TDOSE", "TDURD"),
    by_vars = exprs(STUDYID, USUBJID, !!!adsl_vars, PARCAT1, ASTDTM, ASTDT, AENDTM, AENDT),
    set_values_to = exprs(AVAL = AVAL.TDOSE / AVAL.TDURD, PARAMCD = "AVDDSE")
  )

out <- adex %>%
  filter(PARCAT1 == "OVERALL") %>%
  transmute(USUBJID, PARAMCD, AVAL = sprintf("%.10g", AVAL), AVALC) %>%
  mutate(AVAL = if_else(AVAL == "NA", NA_character_, AVAL)) %>%
  arrange(USUBJID, PARAMCD)
utils::write.csv(out, file.path(here, "adex_overall.csv"), row.names = FALSE, na = "")
writeLines(
  c(
    R.version.string,
    paste("admiral", packageVersion("admiral")),
    paste("admiraldev", packageVersion("admiraldev"))
  ),
  file.path(here, "R_VERSION")
)
