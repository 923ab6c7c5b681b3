"""Fixtures the API tests share."""

from __future__ import annotations

import pytest

from tests.support.tokens import Tokens


@pytest.fixture
def tokens() -> Tokens:
    """Fresh tokens for each scope (tests/support/tokens.py)."""
    return Tokens()
