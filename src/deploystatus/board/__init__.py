"""The status board: server-rendered HTML pages for people, beside the API.

- ``GET /``: a matrix of components (rows) by environments (columns), incident first:
  rows problems first (``sort=name``: alphabetical), each cell the deployable's state with
  its class, version, since when, last success, actor and run link; filters from the URL
  (``q``, ``env``, ``notgreen=1``, ``show=FACET``, ``rows=``), so a view can be shared.
  ``static/board.js`` refreshes it from ``GET /ui/board.json``, which sends only the rows
  that changed since the view it shows.
- ``GET /ui/components/{component}``: its deployables with details and facts, a timeline
  of its last records (inline SVG, deployments as bars) and its history, newest first,
  paged with the API's cursor; ``static/component.js`` refreshes it and switches its times
  between UTC and local.
- ``/ui/sign-in``, ``/ui/sign-out``: a token kept in a cookie, when authentication is on.
- ``GET /ui/webhooks``: every webhook, its state and latest delivery attempts (admins).

Pages read the same `Store` the API reads, in the same process, and use the API's plumbing
(request parsing, cursors, error statuses: ``deploystatus.web``), never its handlers. No
front-end build step: Jinja2 templates (``templates/``), one CSS and two JS files (``static/``).

    matrix.py    every deployable in brief in, a page of the matrix out (no HTTP)
    component.py a component's records in, its rows and timeline out (no HTTP)
    views.py     what both share: templates, icons, ages, short versions, safe links
    pages.py     the matrix, a component's page, the static files
    _reads.py    what the matrix reads, and keeps between views
    sign_in.py   signing in and out
    webhooks.py  the webhooks page
    _respond.py  what the pages share: HTML answers, the error page
"""

from fastapi import APIRouter

from . import pages, sign_in, webhooks

router = APIRouter()
router.include_router(pages.router)
router.include_router(sign_in.router)
router.include_router(webhooks.router)

__all__ = ["router"]
