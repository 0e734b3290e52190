"""One subject's casebook as a self-contained HTML page (printable) and as PDF, printed by the
report room's headless Chromium (:func:`oncotrial.report.trial_report.html_to_pdf`)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from oncotrial.conduct import exports
from oncotrial.conduct.errors import ConductError
from oncotrial.conduct.roles import Actor
from oncotrial.conduct.study import Study
from oncotrial.report.trial_report import html_to_pdf

HERE = Path(__file__).parent
_ENV = Environment(
    loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["j2", "html"])
)


def casebook_html(study: Study, actor: Actor, usubjid: str) -> str:
    """The casebook page: every form's values, signatures (printed name, UTC time, meaning),
    queries and audit trail, with the stylesheet inlined."""
    book = exports.casebook(study, actor, usubjid)
    style = (HERE / "static" / "style.css").read_text(encoding="utf-8")
    return _ENV.get_template("casebook.html.j2").render(
        book=book, study=study, style=style, forms=study.forms, printed_by=actor
    )


def casebook_pdf(study: Study, actor: Actor, usubjid: str) -> bytes:
    """The casebook printed to PDF (needs Chromium)."""
    html = casebook_html(study, actor, usubjid)
    with tempfile.TemporaryDirectory(prefix="oncotrial-casebook-") as folder:
        page = Path(folder) / f"casebook-{usubjid}.html"
        page.write_text(html, encoding="utf-8")
        pdf, note = html_to_pdf(page)
        if pdf is None:
            raise ConductError(note)
        return pdf.read_bytes()
