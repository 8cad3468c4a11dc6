"""The review package's `__all__` names exist."""

from __future__ import annotations

import spansift.review


def test_review_all_names_exist() -> None:
    """Each name in `spansift.review.__all__` is importable from the package."""
    for name in spansift.review.__all__:
        assert hasattr(spansift.review, name), name
