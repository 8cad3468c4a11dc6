"""Times and filters on the command line: `--since/--until`, `--type`, `--status`, `--for`.

`--since 7d` and `--since 2025-11-22` (or `2025-11-22T08:30`, with `Z` or an
offset) both work; a time without an offset is UTC, as everything in the log is.
Filter values are checked against the values that exist, so a typo is an error
with a did-you-mean instead of an empty list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

import click

from spansift.model import ExceptionType
from spansift.review.actions import ACTIONS
from spansift.rules._yaml import did_you_mean
from spansift.store.rows import utc_now

F = TypeVar("F", bound=Callable[..., Any])
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
EXCEPTION_TYPES = tuple(t.value for t in ExceptionType)
STATUSES = (*sorted(set(ACTIONS.values())), "regressed", "withdrawn")
TIME_HELP = "a duration back from now (30m, 24h, 7d, 2w) or a UTC date or time (2025-11-22T08:00)"


def _fail(message: str) -> None:
    raise click.ClickException(message)


def parse_duration(text: str, flag: str = "--since") -> timedelta:
    """`30m`, `24h`, `7d`, `2w` as a timedelta."""
    found = _DURATION.match(text)
    if not found:
        _fail(f"{flag} {text!r}: use a number and a unit, e.g. 30m, 24h, 7d or 2w")
        raise AssertionError  # unreachable
    amount, unit = found.groups()
    return timedelta(**{_UNITS[unit]: int(amount)})


def parse_time(text: str, flag: str, now: datetime | None = None) -> datetime:
    """A naive UTC datetime: `now` minus a duration, or an ISO 8601 date or date and time."""
    if _DURATION.match(text):
        return (now or utc_now()) - parse_duration(text, flag)
    try:
        value = datetime.fromisoformat(text.strip().replace("z", "Z"))
    except ValueError:
        _fail(f"{flag} {text!r}: use {TIME_HELP}")
        raise AssertionError from None  # unreachable
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def window(since: str | None, until: str | None) -> tuple[datetime | None, datetime | None]:
    """`--since` and `--until` as naive UTC datetimes; the start must come first."""
    now = utc_now()
    start = parse_time(since, "--since", now) if since else None
    end = parse_time(until, "--until", now) if until else None
    if start is not None and end is not None and start >= end:
        _fail(f"--since {since} is not before --until {until}; swap them")
    return start, end


def _checked(valid: Iterable[str], what: str) -> Callable[..., Any]:
    choices = tuple(valid)

    def check(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None or value in choices:
            return value
        flag = param.opts[0] if param.opts else param.name
        hint = did_you_mean(value, choices) or "valid: " + ", ".join(choices)
        _fail(f"{flag} {value!r} is not {what}; {hint}")
        return None

    return check


def type_option(func: F) -> F:
    return click.option(
        "--type",
        "exception_type",
        callback=_checked(EXCEPTION_TYPES, "an exception type"),
        help="Only this exception type, e.g. tool_error.",
    )(func)


def status_option(func: F) -> F:
    return click.option(
        "--status",
        callback=_checked(STATUSES, "a status"),
        help=f"Only this status: {', '.join(STATUSES)}.",
    )(func)


def since_until_options(func: F) -> F:
    func = click.option("--until", help=f"Only exceptions before this: {TIME_HELP}.")(func)
    return click.option("--since", help=f"Only exceptions from this on: {TIME_HELP}.")(func)
