"""The JSON shape of a customer, keys in the order of Dub's API reference."""

from __future__ import annotations

import random
from typing import Any

from airflow_provider_dub.testing import ids, words
from airflow_provider_dub.testing.data import NO_VALUE, Columns, Details, Pools


def random_display_name(rng: random.Random) -> str:
    """Dub's name for a customer with neither name nor email: "Adjective Colour Animal"."""
    return f"{rng.choice(words.ADJECTIVES)} {rng.choice(words.COLOURS)} {rng.choice(words.ANIMALS)}"


def customer_json(
    columns: Columns,
    pools: Pools,
    slot: int,
    details: Details,
    expanded: bool,
    rng: random.Random | None,
) -> dict[str, Any]:
    """The API representation of the customer in ``slot``.

    The name falls back to the email, as on Dub. With ``rng``, a customer with
    neither name nor email gets a random name (a new one on every call); without
    it (ground truth) the name stays None. ``expanded`` adds link, programId,
    partner and discount, each only when the customer has one.
    """
    name = details.name or details.email
    if name is None and rng is not None:
        name = random_display_name(rng)
    first_sale, canceled = columns.first_sale[slot], columns.canceled[slot]
    customer: dict[str, Any] = {
        "id": columns.ids[slot],
        "name": name,
        "email": details.email,
        "avatar": details.avatar,
        "externalId": details.external_id,
        "stripeCustomerId": details.stripe_customer_id,
        "country": columns.country_codes[columns.country[slot]],
        "sales": columns.sales[slot],
        "saleAmount": columns.sale_amount[slot],
        "createdAt": ids.format_ms(columns.created[slot]),
        "firstSaleAt": None if first_sale == NO_VALUE else ids.format_ms(first_sale),
        "subscriptionCanceledAt": None if canceled == NO_VALUE else ids.format_ms(canceled),
    }
    link_index = columns.link[slot]
    if expanded and link_index != NO_VALUE:
        customer["link"] = dict(pools.links[link_index])
        if pools.is_program_link(link_index):
            customer["programId"] = pools.program_id
        partner = pools.partners[link_index]
        if partner is not None:
            customer["partner"] = dict(partner)
        discount = pools.discounts[link_index]
        if discount is not None:
            customer["discount"] = dict(discount)
    return customer
