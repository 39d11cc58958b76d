"""The browser side jobgraph serves itself: the dashboard at ``/``, GraphiQL's page, and assets.

``/static`` holds our own modules (``web/public``, committed); ``/vendor`` the third-party
builds ``make web`` installs from the npm registry (``web/vendor``, not committed). Nothing is
loaded from a CDN, so both pages work with no internet; when the vendor builds are absent the
pages say so and how to install them instead of rendering blank.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent.parent / "web"
PUBLIC = WEB / "public"
VENDOR = WEB / "vendor"

# Same-origin only: a page that tried to reach another host would be refused by the browser.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'none'"
)
_PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def missing_vendor_files() -> list[str]:
    """The vendor builds ``web/vendor.json`` lists that are not installed."""
    wanted = json.loads((WEB / "vendor.json").read_text())
    return [name for name in wanted if not (VENDOR / name).is_file()]


def _missing_notice(missing: list[str]) -> str:
    if not missing:
        return ""
    names = ", ".join(html.escape(name) for name in missing)
    return (
        '<div class="jg-missing" role="alert"><strong>Browser assets are missing</strong> '
        f"(web/vendor/: {names}). Install them with <code>make web</code> (runs "
        "<code>npm ci</code> in <code>web/</code>, then copies the builds to "
        "<code>web/vendor/</code>) and reload. The GraphQL API itself works without them: "
        "<code>POST /graphql</code> with an <code>X-API-Key</code> header.</div>"
    )


def _page(name: str) -> Response:
    text = (PUBLIC / name).read_text()
    text = text.replace("<!--missing-assets-->", _missing_notice(missing_vendor_files()))
    return HTMLResponse(text, headers=_PAGE_HEADERS)


def graphiql_page() -> Response:
    """What ``GET /graphql`` answers a browser: GraphiQL on self-served assets."""
    return _page("graphiql.html")


async def dashboard(request: Request) -> Response:
    return _page("index.html")


class VendorFiles(StaticFiles):
    """StaticFiles that answers 404 (not a server error) while ``make web`` has not run: the
    directory is checked on each request (``check_config``, before any lookup), not once."""

    async def check_config(self) -> None:
        if not VENDOR.is_dir():
            raise HTTPException(404, "browser assets not installed: run `make web`")
        await super().check_config()


def frontend_routes() -> list[BaseRoute]:
    return [
        Route("/", dashboard, methods=["GET"]),
        Mount("/static", StaticFiles(directory=PUBLIC), name="static"),
        Mount("/vendor", VendorFiles(directory=VENDOR, check_dir=False), name="vendor"),
    ]
