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
