"""Deterministic synthetic customers.

Storage is columnar and compact so that a million customers fit easily:

* the fields every query needs (id, createdAt, the sortable numbers, country and
  the referral link) live in :class:`Columns`, generated once from the seed;
* the descriptive fields (name, email, avatar, externalId, stripeCustomerId) are
  derived on demand from ``(seed, slot)`` by :func:`derive_details`, so they cost
  no memory at all until something (a page, an index) asks for them.

A *slot* is a customer's position in the columns; slots are never reused.
"""

from __future__ import annotations

import hashlib
import random
from array import array
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, NamedTuple

from airflow_provider_dub.testing import ids, words

NO_VALUE = -1  # stored in a time or link column for "null"
PAYING_SHARE = 0.4
CANCELED_SHARE = 0.25
LINK_SHARE = 0.5
PROGRAM_LINK_SHARE = 0.7
PRICES_CENTS = (900, 1900, 2900, 4900, 9900, 19900)
PRICE_WEIGHTS = (20, 30, 20, 15, 10, 5)


class Details(NamedTuple):
    """The descriptive fields of a customer, derived from ``(seed, slot)``."""

    name: str | None
    email: str | None
    avatar: str | None
    external_id: str
    stripe_customer_id: str | None


@dataclass
class Columns:
    """Per-slot storage of the fields queries sort or filter on.

    ``ids[slot]`` is None once the customer is deleted.
    """

    ids: list[str | None] = field(default_factory=list)
    created: array[int] = field(default_factory=lambda: array("q"))
    sales: array[int] = field(default_factory=lambda: array("q"))
    sale_amount: array[int] = field(default_factory=lambda: array("q"))
    first_sale: array[int] = field(default_factory=lambda: array("q"))
    canceled: array[int] = field(default_factory=lambda: array("q"))
    country: array[int] = field(default_factory=lambda: array("H"))  # index into country_codes
    link: array[int] = field(default_factory=lambda: array("i"))  # index into Pools.links or -1
    country_codes: list[str | None] = field(default_factory=lambda: [None])
    slot_by_id: dict[str, int] = field(default_factory=dict)  # live customers only

    def __len__(self) -> int:
        return len(self.ids)

    def country_index(self, code: str | None) -> int:
        """Return the column value for ``code``, registering unseen codes."""
        index = self._country_lookup.get(code)
        if index is None:
            index = len(self.country_codes)
            self.country_codes.append(code)
            self._country_lookup[code] = index
        return index

    def __post_init__(self) -> None:
        self._country_lookup = {code: index for index, code in enumerate(self.country_codes)}


@dataclass
class Pools:
    """The workspace's program, referral links, partners and discounts.

    Customers reference a link by index. A program link also carries a partner
    (and maybe a discount); other links belong to no program.
    """

    program_id: str | None
    links: list[dict[str, Any]]
    partners: list[dict[str, Any] | None]  # parallel to links
    discounts: list[dict[str, Any] | None]  # parallel to links
    link_weights: list[int]  # cumulative, for weighted picks
    link_index_by_id: dict[str, int]
    link_indexes_by_partner_id: dict[str, set[int]]

    def is_program_link(self, link_index: int) -> bool:
        """Whether the link belongs to the workspace's default program."""
        return link_index >= 0 and self.links[link_index]["programId"] is not None


def make_pools(seed: int, default_program: bool) -> Pools:
    """Build the workspace's program, partners (one link each), discounts and other links."""
    rng = random.Random(f"pools:{seed}")
    base_ms = ids.DATA_ANCHOR_MS - 3 * ids.YEAR_MS
    program_id = "prog_" + ids.make_ulid(base_ms, rng) if default_program else None
    discounts: list[dict[str, Any]] = [
        {
            "id": "disc_" + ids.make_ulid(base_ms, rng),
            "amount": 20,
            "type": "percentage",
            "maxDuration": 3,
            "couponId": "XZuejd0Q",
            "couponTestId": None,
            "description": "20% off your first 3 months",
        },
        {
            "id": "disc_" + ids.make_ulid(base_ms, rng),
            "amount": 1000,
            "type": "flat",
            "maxDuration": None,
            "couponId": None,
            "couponTestId": "TEST10OFF",
            "description": "$10 off your first purchase",
        },
        {
            "id": "disc_" + ids.make_ulid(base_ms, rng),
            "amount": 10,
            "type": "percentage",
            "maxDuration": None,
            "couponId": "K2pq0ZbE",
            "couponTestId": None,
            "description": "10% off, for the lifetime of your subscription",
        },
    ]
    links: list[dict[str, Any]] = []
    partners: list[dict[str, Any] | None] = []
    link_discounts: list[dict[str, Any] | None] = []
    weights: list[int] = []
    used_keys: set[str] = set()
    program_partner_count = 200 if default_program else 0
    for index in range(program_partner_count + 60):
        first, last = rng.choice(words.FIRST_NAMES), rng.choice(words.LAST_NAMES)
        key = f"{first}{last}".lower()
        while key in used_keys:
            key += str(rng.randrange(10))
        used_keys.add(key)
        in_program = index < program_partner_count
        domain = "refer.acme.io" if in_program else rng.choice(("dub.sh", "go.acme.io"))
        links.append(
            {
                "id": "link_" + ids.make_ulid(base_ms + index * ids.DAY_MS, rng),
                "domain": domain,
                "key": key,
                "shortLink": f"https://{domain}/{key}",
                "url": f"https://acme.io/?via={key}" if in_program else "https://acme.io/pricing",
                "programId": program_id if in_program else None,
            }
        )
        if in_program:
            partners.append(
                {
                    "id": "pn_" + ids.make_ulid(base_ms + index * ids.DAY_MS, rng),
                    "name": f"{first} {last}",
                    "email": f"{key}@partners.example.com" if rng.random() < 0.9 else None,
                    "image": f"https://avatar.vercel.sh/{key}" if rng.random() < 0.6 else None,
                }
            )
            roll = rng.random()
            link_discounts.append(
                discounts[0]
                if roll < 0.4
                else discounts[1]
                if roll < 0.55
                else discounts[2]
                if roll < 0.65
                else None
            )
        else:
            partners.append(None)
            link_discounts.append(None)
        # A few partners (and links) bring most customers: Zipf-like weights.
        weights.append(max(1, 1000 // (index % 97 + 1)))
    by_partner: dict[str, set[int]] = {}
    for index, partner in enumerate(partners):
        if partner is not None:
            by_partner.setdefault(partner["id"], set()).add(index)
    return Pools(
        program_id=program_id,
        links=links,
        partners=partners,
        discounts=link_discounts,
        link_weights=list(accumulate(weights)),
        link_index_by_id={link["id"]: index for index, link in enumerate(links)},
        link_indexes_by_partner_id=by_partner,
    )


class CustomerFactory:
    """Creates customers' column values from one seeded random stream."""

    def __init__(self, seed: int, pools: Pools) -> None:
        self.rng = random.Random(seed)
        self.pools = pools
        self._country_codes = [code for code, _ in words.COUNTRIES]
        self._country_weights = list(accumulate(weight for _, weight in words.COUNTRIES))
        self._price_weights = list(accumulate(PRICE_WEIGHTS))
        self._program_links = sum(1 for partner in pools.partners if partner is not None)
        self._program_link_weights = pools.link_weights[: self._program_links]

    def pick_country(self) -> str | None:
        """A country with a realistic skew; about 5% unknown."""
        if self.rng.random() < 0.05:
            return None
        return self.rng.choices(self._country_codes, cum_weights=self._country_weights)[0]

    def pick_link(self) -> int:
        """A link index (program links mostly, when there is a program), or -1."""
        rng = self.rng
        if rng.random() >= LINK_SHARE:
            return NO_VALUE
        program_links = self._program_links
        if program_links and rng.random() < PROGRAM_LINK_SHARE:
            return rng.choices(range(program_links), cum_weights=self._program_link_weights)[0]
        return rng.randrange(program_links, len(self.pools.links))

    def pick_sales(self, created_ms: int, end_ms: int) -> tuple[int, int, int, int]:
        """``(sales, saleAmount, firstSaleAt, subscriptionCanceledAt)``, times may be -1."""
        rng = self.rng
        if rng.random() >= PAYING_SHARE:
            return 0, 0, NO_VALUE, NO_VALUE
        sales = 1
        while sales < 48 and rng.random() < 0.55:
            sales += 1
        price = rng.choices(PRICES_CENTS, cum_weights=self._price_weights)[0]
        first_sale = created_ms + rng.randrange(max(1, min(30 * ids.DAY_MS, end_ms - created_ms)))
        canceled = NO_VALUE
        if rng.random() < CANCELED_SHARE:
            at = first_sale + rng.randrange(ids.DAY_MS, 400 * ids.DAY_MS)
            canceled = at if at < end_ms else NO_VALUE
        return sales, sales * price, first_sale, canceled


def generate_columns(
    count: int,
    seed: int,
    pools: Pools,
    *,
    imported_share: float,
    legacy_share: float,
) -> tuple[Columns, CustomerFactory]:
    """Generate ``count`` customers' columns reproducibly from ``seed``.

    Regular customers get an id in the format of their createdAt era; imported
    ones (Rewardful, PartnerStack...) get a fresh ULID from the last two months
    but a createdAt backdated 1-3 years, sometimes shared by a whole batch.
    """
    factory = CustomerFactory(seed, pools)
    rng = factory.rng
    columns = Columns()
    anchor = ids.DATA_ANCHOR_MS
    oldest = anchor - 3 * ids.YEAR_MS
    recent_span = anchor - ids.ULID_ERA_MS
    legacy_span = ids.ULID_ERA_MS - oldest
    seen = columns.slot_by_id
    batch_left, batch_created, batch_imported = 0, 0, 0
    for _ in range(count):
        roll = rng.random()
        if batch_left > 0:
            batch_left -= 1
            created = batch_created
            customer_id = "cus_" + ids.make_ulid(batch_imported + rng.randrange(1000), rng)
        elif roll < imported_share:
            created = anchor - rng.randrange(ids.YEAR_MS, 3 * ids.YEAR_MS)
            imported_at = anchor - rng.randrange(60 * ids.DAY_MS)
            customer_id = "cus_" + ids.make_ulid(imported_at, rng)
            if rng.random() < 0.15:  # a batch import: several rows share createdAt to the ms
                batch_left, batch_created, batch_imported = rng.randint(1, 4), created, imported_at
        elif roll < imported_share + legacy_share:
            created = oldest + int(legacy_span * rng.random() ** 0.8)
            customer_id = ids.make_customer_id(created, rng)
        else:
            created = ids.ULID_ERA_MS + int(recent_span * rng.random() ** 0.7)
            customer_id = ids.make_customer_id(created, rng)
        while customer_id in seen:  # practically never, but ids must be unique
            customer_id = customer_id[:-1] + rng.choice(ids.CROCKFORD32)
        sales, amount, first_sale, canceled = factory.pick_sales(created, anchor)
        append_row(
            columns,
            customer_id,
            created,
            sales,
            amount,
            first_sale,
            canceled,
            columns.country_index(factory.pick_country()),
            factory.pick_link(),
        )
    return columns, factory


def append_row(
    columns: Columns,
    customer_id: str,
    created: int,
    sales: int,
    sale_amount: int,
    first_sale: int,
    canceled: int,
    country: int,
    link: int,
) -> int:
    """Append one customer to ``columns`` and return its slot."""
    columns.slot_by_id[customer_id] = len(columns.ids)
    columns.ids.append(customer_id)
    columns.created.append(created)
    columns.sales.append(sales)
    columns.sale_amount.append(sale_amount)
    columns.first_sale.append(first_sale)
    columns.canceled.append(canceled)
    columns.country.append(country)
    columns.link.append(link)
    return len(columns.ids) - 1


_ALNUM_BYTES = bytes(ord(ids.ALNUM[byte % 62]) for byte in range(256))
_WEIGHTED_DOMAINS = [domain for domain, weight in words.EMAIL_DOMAINS for _ in range(weight)]
_U16 = 65536


def _u16(digest: bytes, at: int) -> int:
    """The 16-bit number at byte ``at`` of ``digest``."""
    return digest[at] << 8 | digest[at + 1]


def derive_details(seed: int, slot: int, anonymous_share: float) -> Details:
    """Derive a customer's descriptive fields from ``(seed, slot)``.

    One 64-byte hash of ``(seed, slot)`` provides every random choice, each from
    its own fixed bytes (much cheaper than seeding a ``random.Random``).
    """
    digest = hashlib.blake2b(b"%d:%d" % (seed, slot), digest_size=64).digest()
    external_style = digest[0] % 3  # bytes 1-14: the externalId
    if external_style == 0:
        external_id = "user_" + digest[1:9].hex()
    elif external_style == 1:
        external_id = str(1_000_000 + slot)
    else:
        external_id = "cus_" + digest[1:15].translate(_ALNUM_BYTES).decode("ascii")
    if _u16(digest, 15) < anonymous_share * _U16:
        return Details(None, None, None, external_id, None)
    first = words.FIRST_NAMES[_u16(digest, 17) % len(words.FIRST_NAMES)]
    last = words.LAST_NAMES[_u16(digest, 19) % len(words.LAST_NAMES)]
    email: str | None = None
    if _u16(digest, 21) >= 0.03 * _U16:
        domain = _WEIGHTED_DOMAINS[_u16(digest, 23) % len(_WEIGHTED_DOMAINS)]
        number = _u16(digest, 25) % 1000
        pattern = digest[27] % 4
        if pattern == 0:
            local = f"{first}.{last}"
        elif pattern == 1:
            local = f"{first}{last}{number}"
        elif pattern == 2:
            local = f"{first[0]}.{last}{number}"
        else:
            local = f"{first}_{number}"
        email = f"{local.lower()}@{domain}"
    avatar = None
    if digest[28] < 128:
        avatar = "https://www.gravatar.com/avatar/" + digest[29:45].hex()
    stripe_id = None
    if _u16(digest, 45) < 0.55 * _U16:
        stripe_id = "cus_" + digest[47:61].translate(_ALNUM_BYTES).decode("ascii")
    return Details(f"{first} {last}", email, avatar, external_id, stripe_id)
