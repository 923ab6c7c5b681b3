"""An automated accessibility check of a page in the browser tests: axe-core (npm, pinned in
package-lock.json), run in the page as it is, its serious and critical violations named.

The pages' Content-Security-Policy runs only the site's own scripts, so axe is not added as a
``<script>`` element: its source is evaluated through the DevTools protocol
(``page.evaluate``), which the page's policy does not govern. Nothing about the page changes
for the other tests: no policy is bypassed, and axe only reads the document.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


@cache
def _axe_source() -> str:
    if not AXE.is_file():
        raise FileNotFoundError(f"{AXE} is missing: `npm ci` installs axe-core (package-lock.json)")
    return AXE.read_text()


def serious_violations(page: Page) -> list[str]:
    """The serious and critical violations axe-core finds in ``page`` now (WCAG 2.x A and
    AA rules and its best practices), each as ``rule (impact): help: targets``."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await window.axe.run(document, { resultTypes: ["violations"] }))
            .violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help,
              targets: v.nodes.map((node) => node.target.join(" ")).slice(0, 5) }))"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: {', '.join(v['targets'])}"
        for v in found
        if v["impact"] in SERIOUS
    ]
