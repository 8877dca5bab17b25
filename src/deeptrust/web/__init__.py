"""The web page: ``static/`` holds index.html, app.js and app.css (vanilla JS, no CDN, works offline).

The service serves ``index.html`` at ``/`` and this folder at ``/static/``; the element ids the
end-to-end tests use are listed at the top of ``static/app.js``.
"""

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
INDEX_HTML = STATIC_DIR / "index.html"

__all__ = ["INDEX_HTML", "STATIC_DIR"]
