"""The names of the designs the registry builds: light, so that help text can list them without
importing any design (see ``cli/lazy.py``)."""

DESIGN_NAMES: tuple[str, ...] = (
    "3+3",
    "boin",
    "tite-boin",
    "crm",
    "tite-crm",
    "keyboard",
    "mtpi2",
    "i3+3",
    "boin12",
    "tite-boin12",
    "bf-boin",
    "blrm",
)

#: Designs that use a response outcome besides the DLT: they need a response truth to simulate
#: and outcomes with E/T/B/N letters to decide.
EFFICACY_DESIGNS: tuple[str, ...] = ("boin12", "tite-boin12", "bf-boin")

#: Model-based designs: their next dose may lie several levels away, so skipping is a rule they
#: take (``dont_skip``); every other design's rule moves at most one level per decision.
MODEL_BASED: tuple[str, ...] = ("crm", "tite-crm", "blrm")
ONE_STEP_DESIGNS: tuple[str, ...] = tuple(d for d in DESIGN_NAMES if d not in MODEL_BASED)
