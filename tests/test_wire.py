"""Pure wire-format code: timestamps, header checks, file names, links (no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaybox.errors import ErrorCode, RelayboxError
from relaybox.wire import headers as h
from relaybox.wire.files import clean_file_name, content_disposition, header_file_name
from relaybox.wire.ids import is_link, new_link, new_request_id
from relaybox.wire.timestamps import TimestampError, format_date, format_timestamp, parse_date, parse_timestamp

offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1), timezones=offsets)


@given(moments)
def test_iso_seconds_in_any_offset_round_trips(moment: datetime) -> None:
    moment = moment.replace(microsecond=0)
    # `date -Iseconds` style: +HH:MM offsets, Z for UTC, or no offset meaning UTC.
    assert parse_timestamp(moment.isoformat()) == moment.timestamp()
    utc = moment.astimezone(UTC)
    assert parse_timestamp(utc.strftime("%Y-%m-%dT%H:%M:%SZ")) == utc.timestamp()
    assert parse_timestamp(utc.strftime("%Y-%m-%dT%H:%M:%S")) == utc.timestamp()


@given(moments, st.integers(min_value=1, max_value=9), st.integers(min_value=0, max_value=999_999_999))
def test_fractions_of_1_to_9_digits(moment: datetime, digits: int, frac: int) -> None:
    frac_text = str(frac).zfill(9)[:digits]
    base = moment.replace(microsecond=0)
    text = (
        base.strftime("%Y-%m-%dT%H:%M:%S") + "." + frac_text + base.strftime("%z")[:3] + ":" + base.strftime("%z")[3:]
    )
    assert parse_timestamp(text) == pytest.approx(base.timestamp() + int(frac_text) / 10**digits, abs=1e-6)


@given(st.floats(min_value=0, max_value=7_000_000_000, allow_nan=False))
def test_format_timestamp_round_trips(when: float) -> None:
    assert parse_timestamp(format_timestamp(when)) == pytest.approx(when, abs=1e-5)


@given(st.integers(min_value=0, max_value=7_000_000_000))
def test_format_date_round_trips(when: int) -> None:
    assert parse_date(format_date(when)) == when


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2024-10-24",
        "2024-10-24 22:51:00",
        "2024-10-24T22:51",
        "2024-10-24T22:51:00.",
        "2024-10-24T22:51:00.1234567890",
        "2024-10-24T22:51:00+0200",
        "2024-10-24T22:51:00+24:00",
        "2024-02-30T00:00:00",
        "2024-10-24T25:00:00",
        "2024-10-24T22:51:00z",
        " 2024-10-24T22:51:00",
        "2024-10-24T22:51:00Z\n",
        "١٢٣٤-10-24T22:51:00",
    ],
)
def test_malformed_timestamps(bad: str) -> None:
    with pytest.raises(TimestampError):
        parse_timestamp(bad)


@given(st.text(max_size=40))
def test_parse_timestamp_never_raises_anything_else(text: str) -> None:
    try:
        parse_timestamp(text)
    except TimestampError:
        pass


def test_routes() -> None:
    assert h.is_route("abcd@abcdef01")
    assert h.is_route("a.b_c-d@" + "x" * 64)
    for bad in ("abcd", "@x", "x@", "a@b@c", "a b@c", "x" * 65 + "@y", "é@x", "a@b\n"):
        assert not h.is_route(bad), bad


def test_header_values_refuse_control_characters_and_overlong() -> None:
    for bad in ("a\rb", "a\nb", "a\x00b", "a\x1fb", "a\x7fb"):
        with pytest.raises(RelayboxError) as err:
            h.clean_value("message-id", bad)
        assert err.value.error is ErrorCode.MISSING_HEADER and "message-id" in err.value.detail
    with pytest.raises(RelayboxError):
        h.clean_value("message-id", "x" * (h.MAX_HEADER_VALUE + 1))
    assert h.clean_value("pay-for-reply", None, required=False) is None


def test_send_header_parsers() -> None:
    assert h.parse_message_md5("D41D8CD98F00B204E9800998ECF8427E") == "d41d8cd98f00b204e9800998ecf8427e"
    assert h.parse_expires_after(None, maximum=2592000) == 86400
    assert h.parse_expires_after("120", maximum=2592000) == 120
    assert h.parse_priority(None) == "normal" and h.parse_priority("Normal") == "normal"
    assert h.parse_pay_for_reply("1") is True and h.parse_pay_for_reply(None) is False
    codes = {
        ("expires", "0"): 205,
        ("expires", "2592001"): 205,
        ("expires", "x"): 100,
        ("priority", "high"): 206,
    }
    for (what, value), code in codes.items():
        with pytest.raises(RelayboxError) as err:
            if what == "expires":
                h.parse_expires_after(value, maximum=2592000)
            else:
                h.parse_priority(value)
        assert err.value.code == code
    assert h.parse_timeout("999", default=60, maximum=300) == 300
    assert h.parse_timeout(None, default=60, maximum=300) == 60


@given(st.text(max_size=300))
def test_clean_file_name_is_never_a_path(raw: str) -> None:
    name = clean_file_name(raw)
    assert "/" not in name and "\\" not in name
    assert name not in ("", ".", "..")
    assert len(name) <= 255
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in name)
    header_file_name(name).encode("latin-1")  # always a legal header value
    content_disposition(name).encode("latin-1")


def test_file_names() -> None:
    assert clean_file_name("../../etc/passwd") == "passwd"
    assert clean_file_name("C:\\Users\\x\\invoice.xml") == "invoice.xml"
    assert clean_file_name("..") == "data"
    assert clean_file_name(None) == "data"
    assert content_disposition("your_file.xml") == "attachment; filename=your_file.xml"
    assert content_disposition("a b.txt") == 'attachment; filename="a b.txt"'
    assert content_disposition("März.txt") == "attachment; filename=\"M_rz.txt\"; filename*=UTF-8''M%C3%A4rz.txt"


def test_links_and_request_ids() -> None:
    links = {new_link() for _ in range(1000)}
    assert len(links) == 1000
    assert all(is_link(link) and len(link) >= 16 for link in links)
    assert not is_link("a/b") and not is_link("") and not is_link("a%20b")
    rid = new_request_id(0)
    assert rid.startswith("19700101000000-") and len(rid) == 31
