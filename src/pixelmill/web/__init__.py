"""The web UI's files: Jinja2 templates (server-rendered pages) and static files (CSS, scripts).

    templates/base.html     the layout: navigation, the API key field, one `content` block
    templates/<page>.html   one page per surface; ocr_result.html is the answer of POST /ocr
                            to a browser (Accept: text/html)
    static/app.js           what every page's script shares: the API key (sent as X-API-Key),
                            uploads with progress, rendering an error's `detail`
    static/<page>.js        one plain ES module per page; no build step, nothing from outside

The pages work without JavaScript as plain forms that post to the API; the scripts make
them answer in place.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pixelmill import __version__

if TYPE_CHECKING:
    from fastapi.templating import Jinja2Templates

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"


@lru_cache(maxsize=1)
def templates() -> Jinja2Templates:
    """The UI's template renderer (stateless apart from Jinja's own template cache)."""
    # Jinja2 imported at the first page, not at every start: a transform never renders one
    import jinja2
    from fastapi.templating import Jinja2Templates

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["version"] = __version__
    return Jinja2Templates(env=environment)
