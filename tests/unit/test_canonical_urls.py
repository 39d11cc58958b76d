"""Each item's canonical URL: a link that opens the video, and one jobgraph reads back."""

from __future__ import annotations

import pytest

from domain.errors import BadUserInput
from domain.videos import Platform, VideoRef, canonical_url, parse_video

CODES = {
    Platform.YOUTUBE: "dQw4w9WgXcQ",
    Platform.INSTAGRAM: "C1a2B3c4D5e",
    Platform.TIKTOK: "6718335390845095173",
}


def test_tiktok_url_needs_no_user_name() -> None:
    url = canonical_url(Platform.TIKTOK, "6718335390845095173")
    assert url == "https://m.tiktok.com/v/6718335390845095173.html"
    assert "/@" not in url


@pytest.mark.parametrize("platform", list(Platform))
def test_canonical_urls_read_back_as_the_same_video(platform: Platform) -> None:
    ref = VideoRef(platform, CODES[platform])
    assert parse_video(url=ref.url) == ref


@pytest.mark.parametrize(
    "url",
    [
        "https://m.tiktok.com/v/6718335390845095173.html",
        "https://www.tiktok.com/v/6718335390845095173.html?lang=en",
        "m.tiktok.com/v/6718335390845095173.html",
    ],
)
def test_tiktok_share_links_are_recognised(url: str) -> None:
    assert parse_video(url=url) == VideoRef(Platform.TIKTOK, "6718335390845095173")


@pytest.mark.parametrize(
    "url",
    [
        "https://m.tiktok.com/v/6718335390845095173",
        "https://m.tiktok.com/v/notdigits.html",
        "https://m.tiktok.com/v/.html",
    ],
)
def test_malformed_tiktok_share_links_are_refused(url: str) -> None:
    with pytest.raises(BadUserInput):
        parse_video(url=url)
