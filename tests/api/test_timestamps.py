"""deploystatus.timestamps: parsing, the canonical stored form, and rendering in a zone.

The oracle is Python's datetime. It stops at year 1, so year 0 is checked through the
400-year cycle of the Gregorian calendar (146,097 days), after which dates repeat exactly.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from deploystatus.timestamps import (
    EARLIEST_NS,
    LATEST_NS,
    Renderer,
    canonical,
    civil_from_days,
    days_from_civil,
    from_canonical,
    load_zone,
    parse,
)

NS = 1_000_000_000
EPOCH = datetime(1970, 1, 1)
CYCLE_DAYS = 146_097  # 400 Gregorian years
CYCLE_NS = CYCLE_DAYS * 86_400 * NS
YEAR_ONE_SECONDS = (datetime(1, 1, 1) - EPOCH) // timedelta(seconds=1)
ZONES = (
    "Europe/London",
    "America/New_York",
    "Asia/Kolkata",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
)
MAX_OFFSET_MINUTES = 23 * 60 + 59
FOUR_DIGIT_YEAR = re.compile(r"\d{4}-\d\d-\d\dT")
CANONICAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z\Z")

instants = st.integers(EARLIEST_NS, LATEST_NS)


def nanos_of(moment: datetime) -> int:
    """Nanoseconds since the epoch of an aware datetime."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1) * 1_000


def wall_clock(nanos: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of nanoseconds since the epoch, year 0 included."""
    seconds = nanos // NS
    years_shifted = 0
    if seconds < YEAR_ONE_SECONDS:
        seconds += CYCLE_DAYS * 86_400
        years_shifted = 400
    moment = EPOCH + timedelta(seconds=seconds)
    return f"{moment.year - years_shifted:04d}-{moment:%m-%dT%H:%M:%S}"


def offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{rest:02d}"


def trimmed(fraction_digits: str) -> str:
    digits = fraction_digits.rstrip("0")
    return "." + digits if digits else ""


# Parsing


def test_the_readme_timestamp_parses_to_its_instant() -> None:
    assert parse("2024-07-30T14:06:41+00:00") == 1_722_348_401 * NS


@pytest.mark.parametrize(
    "text",
    [
        "2024-07-30T14:06:41Z",
        "2024-07-30T14:06:41z",
        "2024-07-30t14:06:41Z",
        "2024-07-30T14:06:41+00:00",
        "2024-07-30T14:06:41-00:00",
        "2024-07-30T15:06:41+01:00",
        "2024-07-30T10:06:41-04:00",
        "2024-07-31T14:05:41+23:59",
        "2024-07-29T14:07:41-23:59",
        "2024-07-30T14:06:41.0Z",
        "2024-07-30T14:06:41.000000000Z",
    ],
)
def test_every_spelling_of_one_instant_parses_to_it(text: str) -> None:
    assert parse(text) == 1_722_348_401 * NS


@pytest.mark.parametrize(
    ("fraction", "nanos"),
    [(".5", 500_000_000), (".05", 50_000_000), (".123456", 123_456_000), (".000000001", 1)],
)
def test_fractional_digits_are_fractions_of_a_second(fraction: str, nanos: int) -> None:
    assert parse(f"1970-01-01T00:00:00{fraction}Z") == nanos


@pytest.mark.parametrize(
    "text",
    [
        "2024-07-30T14:06:41",  # no offset
        "2024-07-30 14:06:41Z",
        "2024-07-30T14:06Z",
        "2024-7-30T14:06:41Z",
        "02024-07-30T14:06:41Z",
        "2024-07-30T14:06:41.Z",
        "2024-07-30T14:06:41.1234567890Z",  # ten fractional digits
        "2024-07-30T14:06:41+0100",
        "2024-07-30T14:06:41+01",
        "2024-07-30T14:06:41Z\n",
        "\uff12\uff10\uff12\uff14-07-30T14:06:41Z",  # full-width digits
        "2024-07-30T24:00:00Z",
        "2024-07-30T23:60:00Z",
        "2024-07-30T23:59:60Z",  # no leap seconds, as in Go
        "2024-07-30T14:06:41+24:00",
        "2024-07-30T14:06:41+23:60",
        "",
    ],
)
def test_malformed_timestamps_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)


@pytest.mark.parametrize(
    "day", ["2000-02-29", "2024-02-29", "1600-02-29", "0400-02-29", "2024-12-31", "2023-04-30"]
)
def test_real_calendar_dates_are_accepted(day: str) -> None:
    year, month, dom = (int(part) for part in day.split("-"))
    assert parse(f"{day}T00:00:00Z") == nanos_of(datetime(year, month, dom, tzinfo=UTC))


@pytest.mark.parametrize(
    "day",
    [
        "1900-02-29",
        "2100-02-29",
        "2023-02-29",
        "0100-02-29",
        "2024-02-30",
        "2024-04-31",
        "2024-13-01",
        "2024-00-10",
        "2024-01-00",
        "2024-01-32",
    ],
)
def test_impossible_calendar_dates_are_refused(day: str) -> None:
    with pytest.raises(ValueError, match="calendar date"):
        parse(f"{day}T00:00:00Z")


def test_year_zero_is_a_leap_year_like_year_400() -> None:
    leap_day = parse("0000-02-29T12:34:56.789Z")
    assert leap_day == parse("0400-02-29T12:34:56.789Z") - CYCLE_NS
    assert parse("0000-03-01T00:00:00Z") - parse("0000-02-28T00:00:00Z") == 2 * 86_400 * NS


def test_year_zero_lies_just_before_year_one() -> None:
    assert parse("0001-01-01T00:00:00Z") - parse("0000-12-31T23:59:59.999999999Z") == 1
    assert parse("0000-12-31T00:00:00Z") == parse("0001-01-01T00:00:00Z") - 86_400 * NS


def test_the_bounds_are_a_day_inside_years_0000_and_9999() -> None:
    assert parse("0400-01-02T00:00:00Z") - CYCLE_NS == EARLIEST_NS
    assert nanos_of(datetime(9999, 12, 31, tzinfo=UTC)) - 1 == LATEST_NS


@pytest.mark.parametrize(
    ("text", "nanos"),
    [
        ("0000-01-02T00:00:00Z", EARLIEST_NS),
        ("0000-01-01T23:59:00-00:01", EARLIEST_NS),
        ("0000-01-02T23:59:00+23:59", EARLIEST_NS),
        ("9999-12-30T23:59:59.999999999Z", LATEST_NS),
        ("9999-12-31T00:59:59.999999999+01:00", LATEST_NS),
        ("9999-12-30T00:00:59.999999999-23:59", LATEST_NS),
    ],
)
def test_instants_at_the_bounds_are_accepted(text: str, nanos: int) -> None:
    assert parse(text) == nanos


@pytest.mark.parametrize(
    "text",
    [
        "0000-01-01T23:59:59.999999999Z",
        "0000-01-01T00:00:00Z",
        "0000-01-01T00:00:00-23:59",
        "0000-01-02T00:00:00+00:01",
        "9999-12-31T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "9999-12-31T23:59:59+23:59",
        "9999-12-30T23:59:00-00:01",
    ],
)
def test_instants_beyond_the_bounds_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="four-digit year in every time zone"):
        parse(text)


@given(
    nanos=instants,
    offset_minutes=st.integers(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES),
    digits=st.integers(0, 9),
    zulu=st.booleans(),
)
@example(nanos=EARLIEST_NS, offset_minutes=-MAX_OFFSET_MINUTES, digits=0, zulu=False)
@example(nanos=LATEST_NS, offset_minutes=MAX_OFFSET_MINUTES, digits=9, zulu=False)
@example(nanos=LATEST_NS, offset_minutes=0, digits=9, zulu=True)
def test_any_written_instant_round_trips_through_the_canonical_form(
    nanos: int, offset_minutes: int, digits: int, zulu: bool
) -> None:
    fraction = f"{nanos % NS:09d}"[:digits]
    written = nanos - nanos % NS + int(fraction.ljust(9, "0"))  # what ``digits`` can say
    offset = "Z" if zulu and offset_minutes == 0 else offset_text(offset_minutes)
    text = wall_clock(written + offset_minutes * 60 * NS) + (f".{fraction}" if digits else "")
    text += offset

    assert parse(text) == written
    stored = canonical(written)
    assert CANONICAL.match(stored)
    assert stored == f"{wall_clock(written)}.{written % NS:09d}Z"
    assert from_canonical(stored) == written


# The canonical form


def test_the_canonical_form_of_the_readme_timestamp() -> None:
    assert canonical(parse("2024-07-30T15:06:41+01:00")) == "2024-07-30T14:06:41.000000000Z"


@given(first=instants, second=instants)
@example(first=EARLIEST_NS, second=LATEST_NS)
@example(first=-1, second=0)
@example(first=parse("0000-12-31T23:59:59.999999999Z"), second=parse("0001-01-01T00:00:00Z"))
def test_canonical_strings_sort_like_the_instants(first: int, second: int) -> None:
    assert (canonical(first) < canonical(second)) == (first < second)
    assert (canonical(first) == canonical(second)) == (first == second)


@given(day=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_day_numbers_agree_with_python_dates(day: date) -> None:
    number = day.toordinal() - date(1970, 1, 1).toordinal()
    assert days_from_civil(day.year, day.month, day.day) == number
    assert civil_from_days(number) == (day.year, day.month, day.day)


@given(day=st.dates(min_value=date(400, 1, 1), max_value=date(400, 12, 31)))
def test_day_numbers_of_year_zero_repeat_year_400(day: date) -> None:
    number = days_from_civil(day.year, day.month, day.day) - CYCLE_DAYS
    assert days_from_civil(0, day.month, day.day) == number
    assert civil_from_days(number) == (0, day.month, day.day)


# Rendering


@pytest.mark.parametrize(
    ("stored", "rendered"),
    [
        ("2024-07-30T14:06:41.000000000Z", "2024-07-30T14:06:41Z"),
        ("2024-07-30T14:06:41.500000000Z", "2024-07-30T14:06:41.5Z"),
        ("2024-07-30T14:06:41.000000001Z", "2024-07-30T14:06:41.000000001Z"),
        ("2024-07-30T14:06:41.120300000Z", "2024-07-30T14:06:41.1203Z"),
        ("0000-01-02T00:00:00.000000000Z", "0000-01-02T00:00:00Z"),
    ],
)
def test_utc_rendering_trims_trailing_fractional_zeros(stored: str, rendered: str) -> None:
    assert Renderer(None).render(stored) == rendered


@pytest.mark.parametrize(
    ("zone", "instant", "rendered"),
    [
        ("Europe/London", "2024-07-30T14:06:41Z", "2024-07-30T15:06:41+01:00"),
        ("Europe/London", "2024-01-30T14:06:41.25Z", "2024-01-30T14:06:41.25Z"),
        ("America/New_York", "2024-07-30T14:06:41Z", "2024-07-30T10:06:41-04:00"),
        ("America/New_York", "2024-01-30T14:06:41Z", "2024-01-30T09:06:41-05:00"),
        # The hour that repeats when summer time ends: the offset tells the two apart.
        ("America/New_York", "2024-11-03T05:30:00Z", "2024-11-03T01:30:00-04:00"),
        ("America/New_York", "2024-11-03T06:30:00Z", "2024-11-03T01:30:00-05:00"),
        ("Asia/Kolkata", "2024-07-30T14:06:41Z", "2024-07-30T19:36:41+05:30"),
        ("Pacific/Kiritimati", "2024-07-30T14:06:41Z", "2024-07-31T04:06:41+14:00"),
        ("Pacific/Pago_Pago", "2024-07-30T14:06:41Z", "2024-07-30T03:06:41-11:00"),
        (
            "Pacific/Kiritimati",
            "9999-12-30T23:59:59.999999999Z",
            "9999-12-31T13:59:59.999999999+14:00",
        ),
        (
            "Pacific/Pago_Pago",
            "9999-12-30T23:59:59.999999999Z",
            "9999-12-30T12:59:59.999999999-11:00",
        ),
    ],
)
def test_zone_rendering_gives_local_time_and_offset(zone: str, instant: str, rendered: str) -> None:
    assert Renderer(ZoneInfo(zone)).render(canonical(parse(instant))) == rendered


@pytest.mark.parametrize(
    ("zone", "rendered"),
    [
        # Local mean time, -4:56:02: Go would print 07:03:58-04:56, which names another instant.
        ("America/New_York", "1800-01-01T07:04:00-04:56"),
        ("Europe/London", "1800-01-01T11:59:00-00:01"),  # -0:01:15
        ("Pacific/Kiritimati", "1800-01-01T01:31:00-10:29"),  # -10:29:20
        ("Pacific/Pago_Pago", "1800-01-02T00:37:00+12:37"),  # +12:37:12
        ("Asia/Kolkata", "1800-01-01T17:53:00+05:53"),  # +5:53:28
    ],
)
def test_local_mean_time_offsets_are_cut_to_whole_minutes_and_the_clock_follows(
    zone: str, rendered: str
) -> None:
    stored = canonical(parse("1800-01-01T12:00:00Z"))
    assert Renderer(ZoneInfo(zone)).render(stored) == rendered
    assert parse(rendered) == parse("1800-01-01T12:00:00Z")


def test_a_negative_offset_with_seconds_is_cut_toward_zero() -> None:
    # Pago Pago kept local mean time -11:22:48 from 1892 to 1911: -11:22, not -11:23.
    stored = canonical(parse("1900-01-01T12:00:00Z"))
    rendered = Renderer(ZoneInfo("Pacific/Pago_Pago")).render(stored)
    assert rendered == "1900-01-01T00:38:00-11:22"
    assert parse(rendered) == parse("1900-01-01T12:00:00Z")


@given(nanos=instants)
@example(nanos=EARLIEST_NS)
@example(nanos=LATEST_NS)
def test_utc_rendering_parses_back_to_the_same_instant(nanos: int) -> None:
    rendered = Renderer(None).render(canonical(nanos))
    assert parse(rendered) == nanos
    assert rendered == f"{wall_clock(nanos)}{trimmed(f'{nanos % NS:09d}')}Z"


@given(zone=st.sampled_from(ZONES), nanos=instants)
@example(zone="Pacific/Kiritimati", nanos=EARLIEST_NS)
@example(zone="Pacific/Kiritimati", nanos=LATEST_NS)
@example(zone="Pacific/Pago_Pago", nanos=EARLIEST_NS)
@example(zone="Pacific/Pago_Pago", nanos=LATEST_NS)
@example(zone="America/New_York", nanos=EARLIEST_NS)
@example(zone="Asia/Kolkata", nanos=LATEST_NS)
def test_zone_rendering_parses_back_with_a_four_digit_year(zone: str, nanos: int) -> None:
    rendered = Renderer(ZoneInfo(zone)).render(canonical(nanos))
    assert FOUR_DIGIT_YEAR.match(rendered), rendered
    assert parse(rendered) == nanos


@given(
    zone=st.sampled_from(ZONES),
    moment=st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30, 23, 59, 59, 999_999),
        timezones=st.just(UTC),
    ),
)
@example(zone="America/New_York", moment=datetime(2024, 3, 10, 7, 0, tzinfo=UTC))
@example(zone="America/New_York", moment=datetime(2024, 3, 10, 6, 59, 59, 999_999, tzinfo=UTC))
@example(zone="Europe/London", moment=datetime(2024, 10, 27, 1, 0, tzinfo=UTC))
@example(zone="Pacific/Kiritimati", moment=datetime(1, 1, 2, tzinfo=UTC))
@example(zone="Pacific/Pago_Pago", moment=datetime(1900, 1, 1, 12, 0, 0, 123_000, tzinfo=UTC))
@example(zone="Asia/Kolkata", moment=datetime(1850, 6, 1, 23, 59, 59, tzinfo=UTC))
@example(zone="Pacific/Pago_Pago", moment=datetime(9999, 12, 30, 23, 59, 59, 999_999, tzinfo=UTC))
def test_zone_rendering_agrees_with_datetime_astimezone(zone: str, moment: datetime) -> None:
    local = moment.astimezone(ZoneInfo(zone))
    offset = local.utcoffset()
    assert offset is not None
    offset_seconds = int(offset.total_seconds())
    # RFC 3339 offsets have no seconds: cut toward zero, as Go does; the clock follows.
    minutes = abs(offset_seconds) // 60 * (1 if offset_seconds >= 0 else -1)
    wall = moment.replace(tzinfo=None) + timedelta(minutes=minutes)
    if offset_seconds % 60 == 0:
        assert wall == local.replace(tzinfo=None)
    expected = (
        f"{wall.year:04d}-{wall:%m-%dT%H:%M:%S}"
        + trimmed(f"{wall.microsecond:06d}")
        + ("Z" if minutes == 0 else offset_text(minutes))
    )

    assert Renderer(ZoneInfo(zone)).render(canonical(nanos_of(moment))) == expected


# Zones


@pytest.mark.parametrize("name", [None, "", "UTC", ":UTC", "Etc/UTC", "Zulu", "Universal"])
def test_utc_names_load_as_no_zone(name: str | None) -> None:
    assert load_zone(name) is None


def test_zone_names_load_as_zones() -> None:
    assert load_zone("Europe/London") == ZoneInfo("Europe/London")
    assert load_zone(":Asia/Kolkata") == ZoneInfo("Asia/Kolkata")


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "../etc/passwd", "Europe/"])
def test_unknown_zones_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        load_zone(name)
