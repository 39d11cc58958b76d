"""Video references from platform + code or from the links people paste."""

from __future__ import annotations

import pytest

from domain.errors import BadUserInput
from domain.videos import Platform, VideoRef, parse_video


@pytest.mark.parametrize(
    ("url", "platform", "code"),
    [
        ("https://www.youtube.com/watch?v=dQw4w9WgXcQ", Platform.YOUTUBE, "dQw4w9WgXcQ"),
        (
            "https://youtube.com/watch?feature=share&v=dQw4w9WgXcQ&t=1",
            Platform.YOUTUBE,
            "dQw4w9WgXcQ",
        ),
        ("http://m.youtube.com/watch?v=dQw4w9WgXcQ", Platform.YOUTUBE, "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ", Platform.YOUTUBE, "dQw4w9WgXcQ"),
        ("https://youtu.be/dQw4w9WgXcQ?si=abc", Platform.YOUTUBE, "dQw4w9WgXcQ"),
        ("youtu.be/dQw4w9WgXcQ", Platform.YOUTUBE, "dQw4w9WgXcQ"),
        ("https://www.youtube.com/shorts/aqz-KE-bpKQ", Platform.YOUTUBE, "aqz-KE-bpKQ"),
        ("https://www.instagram.com/p/C1a2B3c4D5e/", Platform.INSTAGRAM, "C1a2B3c4D5e"),
        ("https://instagram.com/reel/C1a2B3c4D5e", Platform.INSTAGRAM, "C1a2B3c4D5e"),
        ("https://www.instagram.com/reels/C1a2B3c4D5e/?igsh=x", Platform.INSTAGRAM, "C1a2B3c4D5e"),
        (
            "https://www.tiktok.com/@scout2015/video/6718335390845095173",
            Platform.TIKTOK,
            "6718335390845095173",
        ),
        (
            "https://m.tiktok.com/@a.b_c/video/6718335390845095173?lang=en",
            Platform.TIKTOK,
            "6718335390845095173",
        ),
    ],
)
def test_urls_are_recognised(url: str, platform: Platform, code: str) -> None:
    assert parse_video(url=url) == VideoRef(platform, code)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=short",
        "https://www.youtube.com/channel/UC123",
        "https://vimeo.com/123456",
        "ftp://youtu.be/dQw4w9WgXcQ",
        "https://www.instagram.com/someuser/",
        "https://www.tiktok.com/@user",
        "https://www.tiktok.com/@user/video/notdigits",
        "",
        "x" * 5000,
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(BadUserInput):
        parse_video(url=url)


@pytest.mark.parametrize(
    ("platform", "code", "ok"),
    [
        (Platform.YOUTUBE, "dQw4w9WgXcQ", True),
        (Platform.YOUTUBE, "dQw4w9WgXc", False),
        (Platform.YOUTUBE, "dQw4w9WgXc!", False),
        (Platform.INSTAGRAM, "C1a2B3c4D5e", True),
        (Platform.INSTAGRAM, "ab", False),
        (Platform.TIKTOK, "6718335390845095173", True),
        (Platform.TIKTOK, "67183353908450951a3", False),
    ],
)
def test_codes_are_validated_per_platform(platform: Platform, code: str, ok: bool) -> None:
    if ok:
        assert parse_video(platform=platform, code=code).code == code
    else:
        with pytest.raises(BadUserInput):
            parse_video(platform=platform, code=code)


def test_canonical_urls() -> None:
    assert (
        VideoRef(Platform.YOUTUBE, "dQw4w9WgXcQ").url
        == "https://www.youtube.com/watch?v=dQw4w9WgXcQ"
    )
    assert (
        VideoRef(Platform.INSTAGRAM, "C1a2B3c4D5e").url
        == "https://www.instagram.com/p/C1a2B3c4D5e/"
    )
    assert (
        VideoRef(Platform.TIKTOK, "6718335390845095173").url
        == "https://m.tiktok.com/v/6718335390845095173.html"
    )


def test_url_and_platform_must_agree() -> None:
    with pytest.raises(BadUserInput, match="YOUTUBE link"):
        parse_video(platform=Platform.TIKTOK, url="https://youtu.be/dQw4w9WgXcQ")
    with pytest.raises(BadUserInput, match="url, or a platform and a code"):
        parse_video(platform=Platform.YOUTUBE)
