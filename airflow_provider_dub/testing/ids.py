"""Identifier and timestamp formats used by Dub.

Customer ids come in three historical formats (see ``dub-api.md``):

* before 2024-10-01: a cuid with no prefix, ``c`` + 24 lowercase alphanumerics
  (8 of them a base-36 millisecond timestamp, like cuid v1);
* 2024-10-01 .. 2025-03-31: ``cus_`` + 24 random alphanumerics;
* later: ``cus_`` + a ULID as Dub writes it (base-x over the 16 bytes): the usual
  26-character Crockford base-32 ULID without its leading ``0``, so 25 characters
  (a 26-character form never appears). Every other Dub id (``link_``, ``pn_``,
  ``prog_``, ``disc_``) has the same form.
"""

from __future__ import annotations

import calendar
import random
import time
from datetime import datetime, timezone

LOWER_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"
ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
CROCKFORD32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

# Era boundaries of the id formats, as Unix milliseconds.
RANDOM_ID_ERA_MS = calendar.timegm((2024, 10, 1, 0, 0, 0)) * 1000
ULID_ERA_MS = calendar.timegm((2025, 4, 1, 0, 0, 0)) * 1000
# Fixed "now" of the synthetic data, so that a seed always gives the same data.
DATA_ANCHOR_MS = calendar.timegm((2026, 11, 1, 0, 0, 0)) * 1000

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS


def now_ms() -> int:
    """Return the current wall-clock time as Unix milliseconds."""
    return time.time_ns() // 1_000_000


def format_ms(ms: int) -> str:
    """Format Unix milliseconds as Dub does: ``2026-08-01T12:34:56.789Z``."""
    seconds, millis = divmod(ms, 1000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{millis:03d}Z"
    )


def parse_time(value: str | datetime) -> int:
    """Turn an ISO 8601 string (``Z`` allowed) or a datetime into Unix milliseconds.

    Naive datetimes and strings without an offset are taken as UTC.
    """
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def encode_base(number: int, alphabet: str, length: int) -> str:
    """Encode ``number`` in the given alphabet, left-padded to ``length`` characters."""
    base = len(alphabet)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, base)
        chars.append(alphabet[digit])
    return "".join(reversed(chars))


def make_ulid(timestamp_ms: int, rng: random.Random) -> str:
    """Return a ULID for ``timestamp_ms`` as Dub writes it: Crockford base 32, no leading zeros.

    For any time from 2004 to 3084 that is 25 characters: the 26-character ULID
    (whose first character is then always ``0``) without that ``0``.
    """
    ulid = encode_base(timestamp_ms, CROCKFORD32, 10) + "".join(rng.choices(CROCKFORD32, k=16))
    return ulid.lstrip("0")


def make_cuid(timestamp_ms: int, rng: random.Random) -> str:
    """Return a cuid-like legacy id: ``c`` + base-36 timestamp + random lowercase chars."""
    return "c" + encode_base(timestamp_ms, LOWER_ALNUM, 8) + "".join(rng.choices(LOWER_ALNUM, k=16))


def make_random_customer_id(rng: random.Random) -> str:
    """Return a 2024-10..2025-03 style id: ``cus_`` + 24 random alphanumerics."""
    return "cus_" + "".join(rng.choices(ALNUM, k=24))


def make_customer_id(created_ms: int, rng: random.Random) -> str:
    """Return an id in the format Dub used at ``created_ms`` (a customer's creation time)."""
    if created_ms < RANDOM_ID_ERA_MS:
        return make_cuid(created_ms, rng)
    if created_ms < ULID_ERA_MS:
        return make_random_customer_id(rng)
    return "cus_" + make_ulid(created_ms, rng)


def make_api_key(rng: random.Random) -> str:
    """Return an API key: ``dub_`` + 24 alphanumerics."""
    return "dub_" + "".join(rng.choices(ALNUM, k=24))


def make_prefixed_id(prefix: str, rng: random.Random, length: int = 24) -> str:
    """Return ``prefix`` + ``length`` random alphanumerics (links, partners, programs...)."""
    return prefix + "".join(rng.choices(ALNUM, k=length))
