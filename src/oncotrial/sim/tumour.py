"""Virtual tumours: the lesions a patient has at baseline, how they change on treatment, and the
scans that measure them. Measurements only — what they mean (PR, PD …) is read from them by
the RECIST engine (:mod:`oncotrial.derive.recist`), as an investigator would read the scans.

Model (constants calibrated to first-line PD-1 + VEGF/TKI trials in advanced HCC; see the
protocol's ``virtual_trial`` block):

* whole-lesion size follows the tumour-growth-inhibition curve ``f(t) = exp(-d t) + exp(g t) - 1``
  (Stein et al. 2008, Clin Cancer Res 14:2940; Claret et al. 2009, J Clin Oncol 27:4103):
  sensitive tumours shrink fast and regrow slowly, primary-refractory ones grow from the start;
* hepatocellular carcinoma in the liver is also measured as its viable (arterially enhancing)
  part, as mRECIST reads it (Lencioni & Llovet 2010, Semin Liver Dis 30:52): anti-VEGF therapy
  kills tumour faster than the lesion shrinks, so a share of patients have an extra necrosis
  rate ``n`` in the viable curve ``v(t) = exp(-(d + n) t) + exp(g t) - 1`` (regrowth is viable);
  this is why mRECIST response rates run several points above RECIST 1.1 in HCC trials;
* every diameter has a 4 % multiplicative measurement error and is rounded to 1 mm; non-nodal
  lesions below 3 mm are read as gone (0), nodes shrink towards a normal short axis;
* new lesions and unequivocal non-target progression arrive as Poisson events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DAYS_PER_MONTH = 30.4375

#: Tumour kinetics (per day), tuned to the protocol's ORR and median PFS targets by
#: :func:`oncotrial.sim.patients.calibration_for`.
SENSITIVE_SHRINK = 0.025
SENSITIVE_GROWTH = 0.0008
RESISTANT_SHRINK = 0.0015
RESISTANT_GROWTH = 0.0011
REFRACTORY_SHRINK = 0.0005
REFRACTORY_GROWTH = 0.008
#: Share of primary-refractory tumours: progression at the first scans, as the 17-20 % primary
#: progressive disease of PD-1 + VEGF trials (IMbrave150 19.6 %).
PRIMARY_PROGRESSOR_FRACTION = 0.17
#: Extra death rate (per day) of viable tumour in a necrotic responder.
NECROSIS_RATE = 0.012
NEW_LESION_PER_MONTH = 0.03
NONTARGET_PROGRESSION_PER_MONTH = 0.015
MEASUREMENT_CV = 0.04
#: A non-nodal lesion (or its viable part) below this many mm is read as gone.
VISIBLE_MM = 3.0
#: Nodes shrink to no less than this short axis (mm).
NODE_FLOOR_MM = 5.0
#: No lesion is measured larger than this (mm): the few fastest-growing primary-refractory
#: tumours would otherwise pass any plausible size before their first scan.
LARGEST_MM = 250.0


@dataclass(frozen=True)
class Kinetics:
    """One patient's tumour rates (per day): ``shrink`` d, ``growth`` g and the extra
    ``necrosis`` n of viable HCC tumour (0 for most patients)."""

    sensitive: bool
    shrink: float
    growth: float
    necrosis: float = 0.0


@dataclass
class Lesion:
    """A lesion as the investigator identified it: ``role`` TARGET, NON-TARGET or NEW;
    ``baseline`` diameter in mm (short axis for nodes; 0 for non-target and new lesions);
    ``viable_baseline`` the enhancing diameter of an intrahepatic HCC target (None otherwise)."""

    link_id: str
    role: str
    location: str
    nodal: bool
    baseline: float
    viable_baseline: float | None = None
    appear_day: float = 0.0


@dataclass
class Scan:
    """One tumour assessment: diameters of the targets (``sizes``), viable diameters of the
    intrahepatic targets (``viable``), states of the non-targets and any new lesions."""

    day: float
    sizes: dict[str, float]
    viable: dict[str, float]
    nontarget: dict[str, str]
    new_lesions: list[Lesion] = field(default_factory=list)


#: Target sites: (location, nodal, weight, (log-mean, log-sd, min, max) of the diameter in mm).
TARGET_SITES = (
    ("LIVER", False, 0.62, (np.log(42.0), 0.45, 12.0, 140.0)),
    ("LUNG", False, 0.18, (np.log(18.0), 0.35, 10.0, 55.0)),
    ("LYMPH NODE", True, 0.12, (np.log(21.0), 0.2, 15.0, 40.0)),
    ("ADRENAL GLAND", False, 0.04, (np.log(25.0), 0.3, 10.0, 60.0)),
    ("PERITONEUM", False, 0.04, (np.log(22.0), 0.3, 10.0, 50.0)),
)
NONTARGET_SITES = ("LIVER", "PORTAL VEIN", "LYMPH NODE", "BONE", "LUNG")
NEW_LESION_SITES = ("LIVER", "LUNG", "BONE")


def draw_kinetics(
    rng: np.random.Generator, p_sensitive: float, p_necrotic: float, growth_scale: float
) -> Kinetics:
    """Rates of one patient's tumour: sensitive (share ``p_sensitive``), primary-refractory
    (share :data:`PRIMARY_PROGRESSOR_FRACTION`) or resistant, log-normal spread around each
    centre; a share ``p_necrotic`` of the others also has viable-tumour necrosis."""
    u = rng.random()
    sensitive = bool(u < p_sensitive)
    refractory = not sensitive and u > 1.0 - PRIMARY_PROGRESSOR_FRACTION
    shrink = SENSITIVE_SHRINK if sensitive else RESISTANT_SHRINK
    growth = SENSITIVE_GROWTH if sensitive else RESISTANT_GROWTH
    if refractory:
        shrink, growth = REFRACTORY_SHRINK, REFRACTORY_GROWTH
    necrotic = not refractory and rng.random() < p_necrotic
    return Kinetics(
        sensitive=sensitive,
        shrink=float(shrink * np.exp(rng.normal(0.0, 0.45))),
        growth=float(growth * growth_scale * np.exp(rng.normal(0.0, 0.6))),
        necrosis=float(NECROSIS_RATE * np.exp(rng.normal(0.0, 0.3))) if necrotic else 0.0,
    )


def baseline_lesions(rng: np.random.Generator) -> list[Lesion]:
    """Up to 5 target lesions (≤ 2 per organ, measurable per RECIST 1.1 section 3.1) and 0–3
    non-target lesions; an intrahepatic target's viable part is 80-100 % of its diameter and
    measurable (≥ 10 mm, mRECIST)."""
    n_target = int(rng.choice([1, 2, 3, 4, 5], p=[0.25, 0.35, 0.22, 0.12, 0.06]))
    per_organ: dict[str, int] = {}
    lesions: list[Lesion] = []
    weights = np.array([w for _, _, w, _ in TARGET_SITES])
    while len(lesions) < n_target:
        i = int(rng.choice(len(TARGET_SITES), p=weights / weights.sum()))
        location, nodal, _, (mu, sd, lo, hi) = TARGET_SITES[i]
        if per_organ.get(location, 0) >= 2:
            weights[i] = 0.0
            if weights.sum() == 0:
                break
            continue
        per_organ[location] = per_organ.get(location, 0) + 1
        size = float(round(np.clip(np.exp(rng.normal(mu, sd)), lo, hi)))
        viable = None
        if location == "LIVER":
            viable = float(max(round(size * rng.uniform(0.8, 1.0)), 10.0))
        lesions.append(Lesion(f"T{len(lesions) + 1:02d}", "TARGET", location, nodal, size, viable))
    for j in range(int(rng.choice([0, 1, 2, 3], p=[0.3, 0.4, 0.2, 0.1]))):
        location = str(rng.choice(NONTARGET_SITES))
        lesions.append(
            Lesion(f"NT{j + 1:02d}", "NON-TARGET", location, location == "LYMPH NODE", 0.0)
        )
    return lesions


def tumour_fraction(t: float, shrink: float, growth: float) -> float:
    """Tumour-growth-inhibition curve exp(−d t) + exp(g t) − 1 (Stein et al. 2008)."""
    return float(np.exp(-shrink * t) + np.exp(growth * t) - 1.0)


def _measure(rng: np.random.Generator, baseline: float, nodal: bool, fraction: float) -> float:
    size = min(baseline * fraction * float(np.exp(rng.normal(0.0, MEASUREMENT_CV))), LARGEST_MM)
    if nodal:
        return float(max(round(size), NODE_FLOOR_MM))
    return 0.0 if size < VISIBLE_MM else float(round(size))


def scan_series(
    rng: np.random.Generator,
    kinetics: Kinetics,
    lesions: list[Lesion],
    first_dose_day: float,
    interval_days: float,
    horizon_day: float,
) -> list[Scan]:
    """Every scheduled scan (every ``interval_days`` ± 3 days after the first dose) up to
    ``horizon_day``; the caller stops them where the investigator's read ends treatment."""
    targets = [les for les in lesions if les.role == "TARGET"]
    nontargets = [les for les in lesions if les.role == "NON-TARGET"]
    new_day = float(rng.exponential(DAYS_PER_MONTH / NEW_LESION_PER_MONTH))
    nt_day = float(rng.exponential(DAYS_PER_MONTH / NONTARGET_PROGRESSION_PER_MONTH))
    new_site = str(rng.choice(NEW_LESION_SITES))
    new_lesion: Lesion | None = None
    scans: list[Scan] = []
    k = 1
    while True:
        day = first_dose_day + k * interval_days + float(rng.integers(-3, 4))
        if day > horizon_day:
            break
        t = day - first_dose_day
        whole = tumour_fraction(t, kinetics.shrink, kinetics.growth)
        sizes = {les.link_id: _measure(rng, les.baseline, les.nodal, whole) for les in targets}
        viable_fraction = tumour_fraction(t, kinetics.shrink + kinetics.necrosis, kinetics.growth)
        viable = {
            les.link_id: min(
                _measure(rng, les.viable_baseline, False, viable_fraction), sizes[les.link_id]
            )
            for les in targets
            if les.viable_baseline is not None
        }
        all_gone = all(
            (sizes[les.link_id] < 10.0 if les.nodal else sizes[les.link_id] == 0.0)
            for les in targets
        )
        states = {}
        for les in nontargets:
            if t >= nt_day:
                states[les.link_id] = "UNEQUIVOCAL PROGRESSION"
            elif all_gone and whole < 0.15:
                states[les.link_id] = "ABSENT"
            else:
                states[les.link_id] = "PRESENT"
        if t >= new_day and new_lesion is None:
            new_lesion = Lesion("NEW01", "NEW", new_site, False, 0.0, appear_day=day)
        scans.append(Scan(day, sizes, viable, states, [new_lesion] if new_lesion else []))
        k += 1
    return scans
