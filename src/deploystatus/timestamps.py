"""RFC 3339 timestamps: parsing what writers send, storing, and rendering as the reference did.

Three forms of one instant:

- what a writer sends: RFC 3339 with any offset, 0-9 fractional digits;
- the *canonical* form the service stores and compares: UTC, fixed width, nanoseconds,
  e.g. ``2024-07-30T14:06:41.000000000Z``. Fixed width makes string order equal time
  order, which DynamoDB sort keys and conditional writes rely on;
- what readers get: Go's ``time.Time`` JSON form in the server's zone, trailing
  fractional zeros trimmed and ``Z`` for a zero offset (``2024-07-30T15:06:41+01:00``).

Python's ``datetime`` stops at microseconds and at year 1, so the calendar arithmetic
here is done on integers (days from civil, after H. Hinnant).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_NS = 1_000_000_000
_DAY = 86_400

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))\Z",
    re.ASCII,
)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (year 0 included)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719_468
    era = days // 146_097
    day_of_era = days - era * 146_097
    year_of_era = (
        day_of_era - day_of_era // 1460 + day_of_era // 36_524 - day_of_era // 146_096
    ) // 365
    day_of_year = day_of_era - (365 * year_of_era + year_of_era // 4 - year_of_era // 100)
    month_index = (5 * day_of_year + 2) // 153
    day = day_of_year - (153 * month_index + 2) // 5 + 1
    month = month_index + (3 if month_index < 10 else -9)
    return year_of_era + era * 400 + (month <= 2), month, day


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31


# Accepted instants are at least a day away from the ends of years 0000 and 9999, so that
# they render with a four-digit year in every time zone (offsets stay within a day).
EARLIEST_NS = days_from_civil(0, 1, 2) * _DAY * _NS
LATEST_NS = days_from_civil(9999, 12, 31) * _DAY * _NS - 1


def parse(text: str) -> int:
    """Nanoseconds since the Unix epoch of an RFC 3339 timestamp; ``ValueError`` says why not."""
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(
            "must be an RFC 3339 timestamp with an offset, e.g. 2024-07-30T14:06:41Z "
            "or 2024-07-30T15:06:41.5+01:00"
        )
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction, sign, offset_hours, offset_minutes = match.group(7, 8, 9, 10)
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        raise ValueError("is not a calendar date")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError("is not a valid time of day")
    offset = 0
    if sign is not None:
        if int(offset_hours) > 23 or int(offset_minutes) > 59:
            raise ValueError("has an invalid UTC offset")
        offset = (int(offset_hours) * 3600 + int(offset_minutes) * 60) * (1 if sign == "+" else -1)
    seconds = days_from_civil(year, month, day) * _DAY + hour * 3600 + minute * 60 + second
    nanos = (seconds - offset) * _NS + (int(fraction.ljust(9, "0")) if fraction else 0)
    if not EARLIEST_NS <= nanos <= LATEST_NS:
        raise ValueError(
            "must lie between 0000-01-02T00:00:00Z and 9999-12-30T23:59:59.999999999Z "
            "so that it has a four-digit year in every time zone"
        )
    return nanos


def canonical(nanos: int) -> str:
    """The stored form: UTC, fixed width, nine fractional digits."""
    seconds, fraction = divmod(nanos, _NS)
    days, second_of_day = divmod(seconds, _DAY)
    year, month, day = civil_from_days(days)
    return (
        f"{year:04d}-{month:02d}-{day:02d}T{second_of_day // 3600:02d}:"
        f"{second_of_day // 60 % 60:02d}:{second_of_day % 60:02d}.{fraction:09d}Z"
    )


def from_canonical(text: str) -> int:
    seconds = (
        days_from_civil(int(text[0:4]), int(text[5:7]), int(text[8:10])) * _DAY
        + int(text[11:13]) * 3600
        + int(text[14:16]) * 60
        + int(text[17:19])
    )
    return seconds * _NS + int(text[20:29])


def _trimmed_fraction(digits: str) -> str:
    digits = digits.rstrip("0")
    return "." + digits if digits else ""


_UTC_NAMES = frozenset({"", "UTC", "Etc/UTC", "UCT", "Etc/UCT", "Zulu", "Etc/Zulu", "Universal"})
# Python's datetime covers years 1-9999; an instant outside is looked up at the nearest edge
# (zones there are on their fixed local mean time anyway).
_FIRST_SECOND = days_from_civil(1, 1, 2) * _DAY
_LAST_SECOND = days_from_civil(9999, 12, 30) * _DAY


def load_zone(name: str | None) -> tzinfo | None:
    """The zone named like the ``TZ`` variable (``None`` or empty: UTC, returned as ``None``)."""
    name = (name or "").lstrip(":")
    if name in _UTC_NAMES:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (TZ)") from exc


class Renderer:
    """Renders canonical timestamps the way Go's ``time.Time`` marshals to JSON, in one zone."""

    def __init__(self, zone: tzinfo | None) -> None:
        self._zone = zone

    def render(self, stored: str) -> str:
        if self._zone is None:
            return stored[:19] + _trimmed_fraction(stored[20:29]) + "Z"
        nanos = from_canonical(stored)
        seconds = nanos // _NS
        lookup = datetime.fromtimestamp(
            min(max(seconds, _FIRST_SECOND), _LAST_SECOND), tz=UTC
        ).astimezone(self._zone)
        delta = lookup.utcoffset()
        # Whole minutes only: RFC 3339 offsets have no seconds (old local mean times do).
        offset = int(delta.total_seconds() / 60) * 60 if delta is not None else 0
        days, second_of_day = divmod(seconds + offset, _DAY)
        year, month, day = civil_from_days(days)
        text = (
            f"{year:04d}-{month:02d}-{day:02d}T{second_of_day // 3600:02d}:"
            f"{second_of_day // 60 % 60:02d}:{second_of_day % 60:02d}"
            + _trimmed_fraction(stored[20:29])
        )
        if offset == 0:
            return text + "Z"
        sign = "+" if offset > 0 else "-"
        hours, minutes = divmod(abs(offset) // 60, 60)
        return f"{text}{sign}{hours:02d}:{minutes:02d}"
