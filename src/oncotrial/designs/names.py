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
)
