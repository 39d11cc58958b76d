"""The ``POST /process`` body: JSON in, typed video items out, FastAPI-style 422 details.

Only the shape is checked here (an object with an ``items`` list of objects with string fields,
and an optional ``webhook`` object with a ``url`` string and an ``events`` list of strings);
what makes a video or a webhook valid is decided by ``resolvers.job_access``, as for createJob.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from domain.text import NUL_MESSAGE, nul_path
from domain.videos import Platform

# 1000 items with 2 KiB URLs each fit; anything bigger is not a job someone meant to send.
MAX_BODY_BYTES = 4 * 1024 * 1024


class MalformedJson(Exception):
    """The body is not JSON at all: 400, as opposed to JSON of the wrong shape (422)."""


class BodyTooLarge(Exception):
    """The body is over :data:`MAX_BODY_BYTES`: 413."""


class InvalidBody(Exception):
    """JSON of the wrong shape: 422 with a FastAPI-style ``detail`` list."""

    def __init__(self, loc: tuple[str | int, ...], msg: str, type_: str) -> None:
        super().__init__(msg)
        self.loc = loc
        self.msg = msg
        self.type = type_

    def detail(self) -> list[dict[str, object]]:
        return [{"loc": ["body", *self.loc], "msg": self.msg, "type": self.type}]


@dataclass(frozen=True, slots=True)
class VideoItemBody:
    """One item of the body; satisfies ``resolvers.job_access.VideoFields``."""

    platform: Platform | None
    code: str | None
    url: str | None


@dataclass(frozen=True, slots=True)
class WebhookBody:
    """The body's ``webhook``; satisfies ``resolvers.webhooks.WebhookFields``. Event names
    are taken in any case (``completed`` or ``COMPLETED``)."""

    url: str
    events: list[str] | None


@dataclass(frozen=True, slots=True)
class ProcessBody:
    items: list[VideoItemBody]
    idempotency_key: str | None
    webhook: WebhookBody | None = None


def parse_process_body(raw: bytes) -> ProcessBody:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise MalformedJson(f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise InvalidBody((), "the body must be a JSON object", "dict_type")
    nul = nul_path(data)
    if nul is not None:
        # "$items[0].url" -> ("items", 0, "url")
        loc = tuple(int(part) if part.isdigit() else part for part in _parts(nul))
        raise InvalidBody(loc, f"{nul}: {NUL_MESSAGE}", "string_pattern_mismatch")
    items = data.get("items")
    if items is None:
        raise InvalidBody(("items",), "field required", "missing")
    if not isinstance(items, list):
        raise InvalidBody(("items",), "items must be a list", "list_type")
    return ProcessBody(
        items=[_item(index, item) for index, item in enumerate(items)],
        idempotency_key=_optional_string(data, "idempotencyKey", ()),
        webhook=_webhook(data.get("webhook")),
    )


def _webhook(value: Any) -> WebhookBody | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidBody(("webhook",), "webhook must be a JSON object", "dict_type")
    url = value.get("url")
    if url is None:
        raise InvalidBody(("webhook", "url"), "field required", "missing")
    if not isinstance(url, str):
        raise InvalidBody(("webhook", "url"), "url must be a string", "string_type")
    events = value.get("events")
    if events is not None and (
        not isinstance(events, list) or not all(isinstance(event, str) for event in events)
    ):
        raise InvalidBody(("webhook", "events"), "events must be a list of strings", "list_type")
    return WebhookBody(url=url, events=events)


def _item(index: int, value: Any) -> VideoItemBody:
    if not isinstance(value, dict):
        raise InvalidBody(("items", index), "each item must be a JSON object", "dict_type")
    platform = _optional_string(value, "platform", ("items", index))
    return VideoItemBody(
        platform=None if platform is None else _platform(index, platform),
        code=_optional_string(value, "code", ("items", index)),
        url=_optional_string(value, "url", ("items", index)),
    )


def _platform(index: int, text: str) -> Platform:
    # The old endpoint took "youtube"; GraphQL takes YOUTUBE: REST accepts any case.
    try:
        return Platform(text.strip().upper())
    except ValueError:
        known = ", ".join(platform.value.lower() for platform in Platform)
        raise InvalidBody(
            ("items", index, "platform"),
            f"unknown platform {text[:64]!r}; expected one of {known}",
            "enum",
        ) from None


def _optional_string(data: dict[str, Any], name: str, loc: tuple[str | int, ...]) -> str | None:
    value = data.get(name)
    if value is None or isinstance(value, str):
        return value
    raise InvalidBody((*loc, name), f"{name} must be a string", "string_type")


def _parts(path: str) -> list[str]:
    return [
        part
        for part in path.removeprefix("$").replace("[", ".").replace("]", "").split(".")
        if part
    ]
