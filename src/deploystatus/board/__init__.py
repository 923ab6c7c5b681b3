"""The status board: server-rendered HTML pages for people, beside the API.

- ``GET /``: a matrix of components (rows) by environments (columns), each cell the
  deployable's current state with its class (icon, colour, text) and age. Filters come
  from the URL (``q``: part of a component's name, ``env``: the environment columns to
  show, repeated; ``env=`` shows none; ``notgreen=1``: only components with a state that
  is not success), so a view can be shared. ``static/board.js`` applies the same filters
  as they are typed and refreshes the matrix from ``GET /current`` every few seconds.
- ``GET /ui/components/{component}``: its current state per environment, a timeline of
  its last records (inline SVG) and its history, newest first, paged with the API's cursor.
- ``/ui/sign-in``, ``/ui/sign-out``: a token kept in a cookie, when authentication is on.

Pages read the same `Store` the API reads, in the same process, and use the API's plumbing
(request parsing, cursors, error statuses: ``deploystatus.web``), never its handlers. No
front-end build step: Jinja2 templates (``templates/``), one CSS and one JS file (``static/``).

    matrix.py    current records in, the matrix out (no HTTP)
    component.py a component's records in, its rows and timeline out (no HTTP)
    views.py     what both share: templates, icons, ages, short versions, safe links
    pages.py     the matrix, a component's page, the static files
    sign_in.py   signing in and out
    _respond.py  what the pages share: HTML answers, the error page
"""

from fastapi import APIRouter

from . import pages, sign_in

router = APIRouter()
router.include_router(pages.router)
router.include_router(sign_in.router)

__all__ = ["router"]
