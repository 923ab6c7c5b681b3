"""How a free-text state reads at a glance: success, failed, in progress or other.

Writers choose their own states (``Ok``, ``deploy-failed``, ``rollback-started``...), so the
class comes from keywords in the text, checked in order: failure words first, so that
``rollback-succeeded`` still reads as a failure to look at.
"""

from __future__ import annotations

from typing import Literal

StateClass = Literal["failed", "in-progress", "success", "other"]

DEFAULT_RULES: tuple[tuple[StateClass, tuple[str, ...]], ...] = (
    ("failed", ("fail", "error", "rollback")),
    ("in-progress", ("start", "progress", "pending")),
    ("success", ("ok", "success", "deployed")),
)


def state_class(
    state: str, rules: tuple[tuple[StateClass, tuple[str, ...]], ...] = DEFAULT_RULES
) -> StateClass:
    folded = state.casefold()
    for name, keywords in rules:
        if any(keyword in folded for keyword in keywords):
            return name
    return "other"
