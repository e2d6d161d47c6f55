"""Public article routes: ``/articles``, ``/articles/{slug}``, ``/categories``."""

from __future__ import annotations

from functools import lru_cache

from chalice.app import Blueprint, Response

from chalicelib.articles import categories, cursors, slugs
from chalicelib.articles.service import DEFAULT_LIMIT, MAX_LIMIT, ArticleService, detail
from chalicelib.core.http import ERROR_CACHE, cached_json, error

bp = Blueprint(__name__)

KNOWN_PARAMS = frozenset({"limit", "cursor", "category"})


@lru_cache(maxsize=1)
def service() -> ArticleService:
    return ArticleService()


def _bad(message: str) -> Response:
    # Deterministic for the same URL, so the CDN may keep it like any other answer.
    return error(400, "BadRequestError", message, ERROR_CACHE)


def _parse_limit(raw: str | None) -> int | str:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return f"limit skal være et helt tal fra 1 til {MAX_LIMIT} (fik {raw[:20]!r})"
    return int(raw)


@bp.route("/articles", methods=["GET"], cors=True)
def list_articles() -> Response:
    raw = bp.current_request.query_params
    params: dict[str, str] = {key: raw[key] for key in raw} if raw else {}
    unknown = sorted(set(params) - KNOWN_PARAMS)
    if unknown:
        return _bad(f"ukendt parameter: {unknown[0][:40]!r}; tilladt er limit, cursor og category")
    limit = _parse_limit(params.get("limit"))
    if isinstance(limit, str):
        return _bad(limit)
    category = params.get("category")
    if category is not None and not categories.is_category(category):
        known = ", ".join(c.slug for c in categories.all_categories())
        return _bad(f"ukendt kategori {category[:40]!r}; vælg en af: {known}")
    try:
        page = service().list_published(limit=limit, cursor=params.get("cursor"), category=category)
    except cursors.InvalidCursor as problem:
        return _bad(f"ugyldig cursor ({problem}); brug next_cursor fra det forrige svar uændret")
    return cached_json(bp.current_request, {"items": page.items, "next_cursor": page.next_cursor})


@bp.route("/articles/{slug}", methods=["GET"], cors=True)
def get_article(slug: str) -> Response:
    if not slugs.is_slug(slug):
        return _bad(
            "ugyldig slug: brug små bogstaver a-z, tal og bindestreger, "
            f"højst {slugs.MAX_LENGTH} tegn"
        )
    article = service().get_published(slug)
    if article is None:
        return error(404, "NotFoundError", f"artiklen {slug!r} findes ikke", ERROR_CACHE)
    return cached_json(bp.current_request, detail(article))


@bp.route("/categories", methods=["GET"], cors=True)
def list_categories() -> Response:
    items = [
        {"slug": c.slug, "label": c.label, "description": c.description}
        for c in categories.all_categories()
    ]
    return cached_json(bp.current_request, {"items": items})
