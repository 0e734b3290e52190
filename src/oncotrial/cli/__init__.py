"""The ``oncotrial`` command: one thin command per job (see ``oncotrial --help``).

Below :data:`NARROW_COLUMNS` columns rich's help panels cut option names short ("--des…");
click's plain help wraps them whole, so a narrow terminal gets that. Typer reads
``TYPER_USE_RICH`` when it is imported, which is why this happens here, before any command
module imports it.
"""

from __future__ import annotations

import os
import shutil

NARROW_COLUMNS = 60
if shutil.get_terminal_size().columns < NARROW_COLUMNS:
    os.environ.setdefault("TYPER_USE_RICH", "0")
