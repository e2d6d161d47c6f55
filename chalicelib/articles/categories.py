"""Article categories: data in ``data/categories.json``, read once per process.

They live in the package (not DynamoDB) because pages, navigation and the API all depend
on them and they change with a deploy, so validating a request costs no AWS call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

from chalicelib.core.resources import DATA

_DATA = DATA / "categories.json"


@dataclass(frozen=True)
class Category:
    slug: str
    label: str
    description: str


@lru_cache(maxsize=1)
def all_categories() -> tuple[Category, ...]:
    with _DATA.open(encoding="utf-8") as handle:
        return tuple(Category(**entry) for entry in json.load(handle))


def by_slug() -> dict[str, Category]:
    return {category.slug: category for category in all_categories()}


def is_category(slug: str) -> bool:
    return slug in by_slug()
