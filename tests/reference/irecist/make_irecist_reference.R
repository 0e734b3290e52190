# Reference iRECIST ADRS parameters for tests/test_response_irecist.py, made by admiral and
# admiralonco (pharmaverse) from the shared reference data: the iRECIST visit responses of
# pharmaversesdtm's rs_onco_irecist and pharmaverseadam's ADSL.
#
# The endpoints are those of admiralonco's article "Creating ADRS with iRECIST endpoints"
# (vignettes/irecist.Rmd, admiralonco 1.3.0): ICPD, IUPD, IRSP, ICB, IBOR, ICRSP, ICCB, ICBOR,
# built with admiral::derive_extreme_event() from the event definitions stated there
# (iCR/iPR confirmed by iCR (iCR or iPR) >= 28 days later with at most one NE between and no
# iPR after iCR; iSD and NON-iCR/NON-iUPD from RANDDT + 42 days; iCPD dated at the iUPD it
# confirms; visit records on/after RANDDT, worst per date, up to the first iCPD).
#
# Run from the repository root (R_LIBS pointing at admiral 1.0.2, admiraldev 1.0.0 and
# admiralonco 1.3.0, installed with R CMD INSTALL from the cran/* GitHub mirrors):
#   Rscript tests/reference/irecist/make_irecist_reference.R
# Writes tests/reference/irecist/adrs_irecist.csv (USUBJID, PARAMCD, AVALC, ADT, ANL01FL,
# ANL02FL; OVR rows and one row per subject and parameter) and R_VERSION.
suppressPackageStartupMessages({
  library(admiral)
  library(admiralonco)
  library(dplyr)
  library(lubridate)
})

here <- "tests/reference/irecist"
shared <- "../shared/reference/pharmaverse"
read <- function(path) {
  utils::read.csv(path, colClasses = "character", na.strings = character(0))
}
rs <- convert_blanks_to_na(read(file.path(shared, "sdtm", "rs_onco_irecist.csv.gz")))
rs$RSSEQ <- as.numeric(rs$RSSEQ)
adsl <- convert_blanks_to_na(read(file.path(shared, "adam", "adsl.csv.gz")))
adsl$RANDDT <- as.Date(adsl$RANDDT)

# the article's subject selection: every subject with RS data and one subject without
with_rs <- unique(rs$USUBJID)
without_rs <- setdiff(unique(adsl$USUBJID), with_rs)[1]
adsl <- filter(adsl, USUBJID %in% c(with_rs, without_rs))
keys <- get_admiral_option("subject_keys")
adsl_vars <- exprs(RANDDT)

irecist_aval <- function(x) {
  case_when(
    x == "NE" ~ 8, x == "MISSING" ~ 7, x == "iCR" ~ 6, x == "iPR" ~ 5, x == "iSD" ~ 4,
    x == "NON-iCR/NON-iUPD" ~ 3, x == "iUPD" ~ 2, x == "iCPD" ~ 1, TRUE ~ NA_real_
  )
}
labels <- function(paramcd, param, aval) {
  exprs(
    PARAMCD = !!paramcd, PARAM = !!param, PARCAT1 = "Tumor Response",
    PARCAT2 = "Investigator", PARCAT3 = "iRECIST", AVAL = !!aval, ANL01FL = "Y"
  )
}

adrs <- rs %>%
  derive_vars_merged(dataset_add = adsl, new_vars = adsl_vars, by_vars = keys) %>%
  filter(RSEVAL == "INVESTIGATOR" & RSTESTCD == "OVRLRESP") %>%
  mutate(PARAMCD = "OVR") %>%
  derive_vars_dt(
    dtc = RSDTC, new_vars_prefix = "A", highest_imputation = "D", date_imputation = "last"
  ) %>%
  mutate(AVALC = RSSTRESC, AVAL = irecist_aval(AVALC)) %>%
  restrict_derivation(
    derivation = derive_var_extreme_flag,
    args = params(
      by_vars = c(keys, exprs(ADT)), order = exprs(AVAL, RSSEQ), new_var = ANL01FL,
      mode = "first"
    ),
    filter = !is.na(AVAL) & AVALC != "MISSING" & ADT >= RANDDT
  ) %>%
  derive_var_relative_flag(
    by_vars = keys, order = exprs(ADT, RSSEQ), new_var = ANL02FL,
    condition = AVALC == "iCPD", mode = "first", selection = "before", inclusive = TRUE
  )
ovr <- filter(adrs, PARAMCD == "OVR" & ANL01FL == "Y" & ANL02FL == "Y")

# ---- events (the article's definitions) ---------------------------------------------------
no_data_n <- event(
  dataset_name = "adsl", condition = TRUE, set_values_to = exprs(AVALC = "N"),
  keep_source_vars = adsl_vars
)
no_data_missing <- event(
  dataset_name = "adsl", condition = TRUE, set_values_to = exprs(AVALC = "MISSING"),
  keep_source_vars = adsl_vars
)
confirmed_pd <- function(value) {
  event_joined(
    dataset_name = "ovr", join_vars = exprs(AVALC, ADT), join_type = "after",
    first_cond_upper = AVALC.join == "iCPD",
    condition = AVALC == "iUPD" & all(AVALC.join %in% c("iCPD", "iUPD", "NE")),
    set_values_to = exprs(AVALC = !!value)
  )
}
unconfirmed_pd <- event_joined(
  dataset_name = "ovr", join_vars = exprs(AVALC, ADT), join_type = "all",
  condition = ADT <= ADT.join & AVALC == "iUPD" & all(AVALC.join %in% c("iUPD", "NE")),
  set_values_to = exprs(AVALC = "Y")
)
response <- event(
  dataset_name = "ovr", condition = AVALC %in% c("iCR", "iPR"),
  set_values_to = exprs(AVALC = "Y")
)
benefit <- event(
  dataset_name = "ovr",
  condition = AVALC %in% c("iCR", "iPR", "iSD", "NON-iCR/NON-iUPD") & ADT >= RANDDT + 42,
  set_values_to = exprs(AVALC = "Y")
)
best <- function(codes, value, late = FALSE) {
  if (late) {
    event(
      dataset_name = "ovr", condition = AVALC %in% !!codes & ADT >= RANDDT + 42,
      set_values_to = exprs(AVALC = !!value)
    )
  } else {
    event(
      dataset_name = "ovr", condition = AVALC %in% !!codes,
      set_values_to = exprs(AVALC = !!value)
    )
  }
}
confirmed_cr <- function(value) {
  event_joined(
    dataset_name = "ovr", join_vars = exprs(AVALC, ADT), join_type = "after",
    order = exprs(ADT),
    first_cond_upper = AVALC.join == "iCR" & ADT.join >= ADT + days(28),
    condition = AVALC == "iCR" & all(AVALC.join %in% c("iCR", "NE")) &
      count_vals(var = AVALC.join, val = "NE") <= 1,
    set_values_to = exprs(AVALC = !!value)
  )
}
confirmed_pr <- function(value) {
  event_joined(
    dataset_name = "ovr", join_vars = exprs(AVALC, ADT), join_type = "after",
    order = exprs(ADT),
    first_cond_upper = AVALC.join %in% c("iCR", "iPR") & ADT.join >= ADT + days(28),
    condition = AVALC == "iPR" & all(AVALC.join %in% c("iCR", "iPR", "NE")) &
      count_vals(var = AVALC.join, val = "NE") <= 1 &
      (min_cond(var = ADT.join, cond = AVALC.join == "iCR") >
        max_cond(var = ADT.join, cond = AVALC.join == "iPR") |
        count_vals(var = AVALC.join, val = "iCR") == 0 |
        count_vals(var = AVALC.join, val = "iPR") == 0),
    set_values_to = exprs(AVALC = !!value)
  )
}
bor_tail <- list(
  best(c("iCR", "iPR", "iSD"), "iSD", late = TRUE),
  best("NON-iCR/NON-iUPD", "NON-iCR/NON-iUPD", late = TRUE),
  confirmed_pd("iCPD"),
  best("iUPD", "iUPD"),
  best(c("iCR", "iPR", "iSD", "NON-iCR/NON-iUPD", "NE"), "NE"),
  no_data_missing
)
sources <- list(ovr = ovr, adsl = adsl)
add <- function(data, events, paramcd, order, aval, source = sources, ...) {
  derive_extreme_event(
    data,
    by_vars = keys, order = order, mode = "first", source_datasets = source,
    events = events, set_values_to = labels(paramcd, paramcd, aval), ...
  )
}
yn <- expr(yn_to_numeric(AVALC))
resp <- expr(irecist_aval(AVALC))

adrs <- add(adrs, list(confirmed_pd("Y"), no_data_n), "ICPD", exprs(ADT), yn)
from_last_iupd <- ovr %>%
  group_by(!!!keys) %>%
  filter(ADT >= max_cond(var = ADT, cond = AVALC == "iUPD")) %>%
  ungroup()
adrs <- add(
  adrs, list(unconfirmed_pd, no_data_n), "IUPD", exprs(ADT), yn,
  source = list(ovr = from_last_iupd, adsl = adsl)
)
adrs <- add(adrs, list(response, no_data_n), "IRSP", exprs(ADT), yn)
adrs <- add(
  adrs, list(response, benefit, no_data_n), "ICB", exprs(desc(AVALC), ADT), yn,
  check_type = "none"
)
adrs <- add(
  adrs, c(list(best("iCR", "iCR"), best("iPR", "iPR")), bor_tail), "IBOR",
  exprs(event_nr, ADT), resp, tmp_event_nr_var = event_nr
)
adrs <- add(
  adrs, list(confirmed_cr("Y"), confirmed_pr("Y"), no_data_n), "ICRSP",
  exprs(desc(AVALC), ADT), yn
)
adrs <- add(
  adrs, list(confirmed_cr("Y"), confirmed_pr("Y"), benefit, no_data_n), "ICCB",
  exprs(desc(AVALC), ADT), yn, check_type = "none"
)
adrs <- add(
  adrs, c(list(confirmed_cr("iCR"), confirmed_pr("iPR")), bor_tail), "ICBOR",
  exprs(event_nr, ADT), resp, tmp_event_nr_var = event_nr
)

out <- adrs %>%
  transmute(
    USUBJID, PARAMCD, AVALC, ADT = format(ADT, "%Y-%m-%d"),
    ANL01FL = if_else(PARAMCD == "OVR", ANL01FL, NA_character_),
    ANL02FL = if_else(PARAMCD == "OVR", ANL02FL, NA_character_),
    RSSEQ = if_else(PARAMCD == "OVR", RSSEQ, NA_real_)
  ) %>%
  arrange(USUBJID, PARAMCD, ADT, RSSEQ)
utils::write.csv(out, file.path(here, "adrs_irecist.csv"), row.names = FALSE, na = "")
writeLines(
  c(
    R.version.string,
    paste("admiral", packageVersion("admiral")),
    paste("admiralonco", packageVersion("admiralonco")),
    paste("admiraldev", packageVersion("admiraldev"))
  ),
  file.path(here, "R_VERSION")
)
