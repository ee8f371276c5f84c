"""Faker-backed identity pools: Faker runs a few thousand times, numpy picks from the pools."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from faker import Faker

_POOL = 600


@dataclass(frozen=True)
class IdentityPools:
    first_names: np.ndarray
    last_names: np.ndarray
    streets: np.ndarray
    email_domains: np.ndarray
    companies: np.ndarray


def _clean_token(value: str) -> str:
    return re.sub(r"[^a-z]", "", value.lower())


def build_pools(seed: int) -> IdentityPools:
    fake = Faker("en_US")
    fake.seed_instance(seed)
    return IdentityPools(
        first_names=np.array([fake.first_name() for _ in range(_POOL)], dtype=object),
        last_names=np.array([fake.last_name() for _ in range(_POOL)], dtype=object),
        streets=np.array([fake.street_address() for _ in range(_POOL)], dtype=object),
        email_domains=np.array(sorted({fake.free_email_domain() for _ in range(50)}), dtype=object),
        companies=np.array([fake.company() for _ in range(_POOL)], dtype=object),
    )


def emails(
    pools: IdentityPools, first: np.ndarray, last: np.ndarray, number: np.ndarray, domain: np.ndarray
) -> np.ndarray:
    """first.last<number>@domain from indices into the name pools, lower-case letters only in the name parts.

    Names are cleaned once per pool entry, not once per customer.
    """
    first_token = np.array([_clean_token(v) for v in pools.first_names])[first]
    last_token = np.array([_clean_token(v) for v in pools.last_names])[last]
    local = np.char.add(np.char.add(first_token, "."), last_token)
    return np.char.add(np.char.add(np.char.add(local, number.astype(str)), "@"), domain.astype(str)).astype(object)
