"""The public API is what `spansift.__all__` lists, and every name there exists."""

from __future__ import annotations

import spansift


def test_all_names_exist() -> None:
    """Each name in `__all__` is importable from the package."""
    for name in spansift.__all__:
        assert hasattr(spansift, name), name


def test_processor_is_public() -> None:
    """The in-process processor is part of the public API."""
    assert "ExceptionLogProcessor" in spansift.__all__
