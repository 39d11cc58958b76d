"""Video references: a platform plus a code, given as such or as a link people paste.

>>> parse_video(url="https://youtu.be/dQw4w9WgXcQ?t=42")
VideoRef(platform=<Platform.YOUTUBE: 'YOUTUBE'>, code='dQw4w9WgXcQ')
>>> VideoRef(Platform.INSTAGRAM, "C1a2B3c4D5e").url
'https://www.instagram.com/p/C1a2B3c4D5e/'
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from domain.errors import BadUserInput


class Platform(enum.StrEnum):
    YOUTUBE = "YOUTUBE"
    INSTAGRAM = "INSTAGRAM"
    TIKTOK = "TIKTOK"


_CODE_PATTERNS: dict[Platform, re.Pattern[str]] = {
    Platform.YOUTUBE: re.compile(r"[A-Za-z0-9_-]{11}"),
    Platform.INSTAGRAM: re.compile(r"[A-Za-z0-9_-]{5,40}"),
    Platform.TIKTOK: re.compile(r"[0-9]{8,25}"),
}
_CODE_HINTS: dict[Platform, str] = {
    Platform.YOUTUBE: "11 characters of A-Z, a-z, 0-9, '_' or '-'",
    Platform.INSTAGRAM: "5 to 40 characters of A-Z, a-z, 0-9, '_' or '-'",
    Platform.TIKTOK: "8 to 25 digits",
}
_MAX_URL_LENGTH = 2048


@dataclass(frozen=True, slots=True)
class VideoRef:
    platform: Platform
    code: str

    @property
    def url(self) -> str:
        return canonical_url(self.platform, self.code)


# Module globals: on Python 3.11 ``Platform.YOUTUBE`` is a lookup through the enum's metaclass,
# which cost more than building the URL (a page of jobs builds one per item).
_YOUTUBE, _INSTAGRAM = Platform.YOUTUBE, Platform.INSTAGRAM


def canonical_url(platform: Platform, code: str) -> str:
    if platform is _YOUTUBE:
        return f"https://www.youtube.com/watch?v={code}"
    if platform is _INSTAGRAM:
        return f"https://www.instagram.com/p/{code}/"
    # TikTok's share form names the video by id alone (no user name, which jobgraph never
    # knows) and redirects to the video's page.
    return f"https://m.tiktok.com/v/{code}.html"


def validate_code(platform: Platform, code: str) -> str:
    code = code.strip()
    if not _CODE_PATTERNS[platform].fullmatch(code):
        raise BadUserInput(
            f"invalid {platform.value} video code {code[:64]!r}: expected {_CODE_HINTS[platform]}"
        )
    return code


def parse_video(
    *, platform: Platform | None = None, code: str | None = None, url: str | None = None
) -> VideoRef:
    """Build a reference from platform + code, or from a URL (and check they agree if both)."""
    if url is not None:
        ref = _parse_url(url)
        if platform is not None and platform is not ref.platform:
            raise BadUserInput(f"the URL is a {ref.platform.value} link, not {platform.value}")
        if code is not None and code.strip() != ref.code:
            raise BadUserInput("the URL and the code name different videos")
        return ref
    if platform is None or code is None:
        raise BadUserInput("each item needs either a url, or a platform and a code")
    return VideoRef(platform, validate_code(platform, code))


def _parse_url(url: str) -> VideoRef:
    text = url.strip()
    if len(text) > _MAX_URL_LENGTH:
        raise BadUserInput("the URL is too long")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise BadUserInput(f"unsupported URL scheme {parts.scheme!r}")
    host = (parts.hostname or "").lower().removeprefix("www.").removeprefix("m.")
    segments = [segment for segment in parts.path.split("/") if segment]

    if host in ("youtube.com", "music.youtube.com", "youtube-nocookie.com"):
        if segments == ["watch"]:
            codes = parse_qs(parts.query).get("v", [])
            if codes:
                return VideoRef(Platform.YOUTUBE, validate_code(Platform.YOUTUBE, codes[0]))
        elif len(segments) == 2 and segments[0] in ("shorts", "embed", "live", "v"):
            return VideoRef(Platform.YOUTUBE, validate_code(Platform.YOUTUBE, segments[1]))
    elif host == "youtu.be" and len(segments) == 1:
        return VideoRef(Platform.YOUTUBE, validate_code(Platform.YOUTUBE, segments[0]))
    elif host in ("instagram.com", "instagr.am"):
        # /p/CODE/, /reel/CODE/, /reels/CODE/, /tv/CODE/, optionally after a /USER/ prefix.
        for index, segment in enumerate(segments[:-1]):
            if segment in ("p", "reel", "reels", "tv"):
                return VideoRef(
                    Platform.INSTAGRAM, validate_code(Platform.INSTAGRAM, segments[index + 1])
                )
    elif host == "tiktok.com":
        # /v/ID.html (the share form canonical_url gives), /@user/video/ID, /video/ID;
        # /@user/photo/ID is not a video.
        if len(segments) == 2 and segments[0] == "v" and segments[1].endswith(".html"):
            code = segments[1].removesuffix(".html")
            return VideoRef(Platform.TIKTOK, validate_code(Platform.TIKTOK, code))
        for index, segment in enumerate(segments[:-1]):
            if segment == "video":
                return VideoRef(
                    Platform.TIKTOK, validate_code(Platform.TIKTOK, segments[index + 1])
                )
    raise BadUserInput(f"not a recognised YouTube, Instagram or TikTok video URL: {url[:200]!r}")
