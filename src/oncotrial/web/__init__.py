"""The trial application over HTTP: server-rendered pages and a JSON API (FastAPI), calling the
use cases of :mod:`oncotrial.conduct` — authentication, sessions, CSRF and rendering here; no SQL
and no clinical rule. Start it with ``oncotrial serve --db URL``.
"""

from oncotrial.web.app import create_app

__all__ = ["create_app"]
