"""Terraform read as data for the infrastructure tests: python-hcl2 parses HCL as Terraform
does (without evaluating it)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import hcl2

OPTIONS = hcl2.SerializationOptions(
    with_comments=False, explicit_blocks=False, strip_string_quotes=True
)


def parse(text: str) -> dict[str, list[Any]]:
    parsed: dict[str, list[Any]] = hcl2.load(io.StringIO(text), serialization_options=OPTIONS)
    return parsed


def blocks(directory: Path) -> dict[str, list[Any]]:
    """Every top-level block of a module's .tf files, merged by block type."""
    merged: dict[str, list[Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for kind, found in parse(path.read_text(encoding="utf-8")).items():
            merged.setdefault(kind, []).extend(found)
    return merged


def one(directory: Path, kind: str, *labels: str) -> dict[str, Any]:
    """The one block ``kind "label" ...`` of the module, e.g. ``one(d, "resource",
    "aws_iam_policy", "x")``."""
    found = []
    for block in blocks(directory).get(kind, []):
        body: Any = block
        for label in labels:
            body = body.get(label) if isinstance(body, dict) else None
        if body is not None:
            found.append(body)
    assert len(found) == 1, f"expected one {kind} {' '.join(labels)}, found {len(found)}"
    result: dict[str, Any] = found[0]
    return result
