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


Rules = tuple[tuple[StateClass, tuple[str, ...]], ...]
# What ``DEPLOYSTATUS_STATE_CLASSES`` may name; "other" is what matches none of them.
RULE_CLASSES: tuple[StateClass, ...] = ("failed", "in-progress", "success")
LABELS: dict[StateClass, str] = {
    "success": "success",
    "failed": "failed",
    "in-progress": "in progress",
    "other": "other",
}


def parse_rules(text: str) -> Rules:
    """Rules from ``class=word,word;class=word,...``, checked in the order written, e.g. the
    defaults: ``failed=fail,error,rollback;in-progress=start,progress,pending;
    success=ok,success,deployed``. Keywords match anywhere in the state, ignoring case.
    ``ValueError`` says what is wrong."""
    rules: list[tuple[StateClass, tuple[str, ...]]] = []
    for part in text.split(";"):
        if not part.strip():
            continue
        name, equals, words = part.partition("=")
        name = name.strip()
        if not equals:
            raise ValueError(f"{part.strip()!r} is not CLASS=KEYWORD,KEYWORD,...")
        known = next((c for c in RULE_CLASSES if c == name), None)
        if known is None:
            raise ValueError(f"unknown state class {name!r}: use {', '.join(RULE_CLASSES)}")
        if any(existing == known for existing, _ in rules):
            raise ValueError(f"state class {name!r} is given twice")
        keywords = tuple(word.strip().casefold() for word in words.split(",") if word.strip())
        if not keywords:
            raise ValueError(f"state class {name!r} has no keywords")
        rules.append((known, keywords))
    if not rules:
        raise ValueError("no rules: give at least one CLASS=KEYWORD,...")
    return tuple(rules)


def format_rules(rules: Rules) -> str:
    """The inverse of `parse_rules`."""
    return ";".join(f"{name}={','.join(keywords)}" for name, keywords in rules)


class Classifier:
    """`state_class` with fixed rules, remembering each state's answer (states repeat)."""

    def __init__(self, rules: Rules = DEFAULT_RULES) -> None:
        self.rules = rules
        self._known: dict[str, StateClass] = {}

    def __call__(self, state: str) -> StateClass:
        found = self._known.get(state)
        if found is None:
            found = state_class(state, self.rules)
            if len(self._known) >= 65_536:
                self._known.clear()
            self._known[state] = found
        return found
