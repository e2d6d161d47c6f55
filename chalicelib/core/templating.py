"""Jinja2 rendering for pages and mails (Danish). Jinja2 is imported on first render only,
so routes that render nothing never load it."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jinja2


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("chalicelib", "templates"),
        # HTML and XML are escaped; .txt mail parts are not (they are never parsed as markup).
        autoescape=jinja2.select_autoescape(["html", "xml"]),
        undefined=jinja2.StrictUndefined,  # a missing variable is a bug, not an empty string
        trim_blocks=True,
        lstrip_blocks=True,
    )
    _add_site_globals(env)
    return env


def _add_site_globals(env: jinja2.Environment) -> None:
    """What base.html needs on every page, static or API-rendered: the site's and API's
    addresses (a render may pass its own), the categories for the navigation, and
    ``asset("site.css")``, the fingerprinted address of a stylesheet, script or icon."""
    import jinja2

    from chalicelib.articles import categories
    from chalicelib.core.config import get_settings
    from chalicelib.site import assets

    settings = get_settings()

    @jinja2.pass_context
    def asset(context: jinja2.runtime.Context, name: str) -> str:
        return f"{context.get('site_url', settings.site_url)}/{assets.key(name)}"

    env.globals.update(
        site_url=settings.site_url,
        api_url=settings.api_url,
        categories=categories.all_categories(),
        asset=asset,
    )


def render(name: str, **context: Any) -> str:
    return environment().get_template(name).render(**context)
