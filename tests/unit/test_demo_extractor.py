"""The demo's SimulatedExtractor: realistic log lines, and one transient failure to retry."""

from __future__ import annotations

import pytest

from demo import FLAKY_CODE, SimulatedExtractor
from worker import LogLevels, WorkItem


class Lines(LogLevels):
    """A processor's ``log`` that keeps the lines instead of sending them."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, message: str, level: str = "INFO") -> None:
        self.lines.append((level, message))


async def test_simulated_extraction_logs_its_steps() -> None:
    extractor, log = SimulatedExtractor(speed=0), Lines()
    item = WorkItem(0, "YOUTUBE", "dQw4w9WgXcQ", "https://www.youtube.com/watch?v=dQw4w9WgXcQ")
    await extractor(item, log)  # type: ignore[arg-type]
    messages = [message for _, message in log.lines]
    assert messages[0].startswith("[0] resolving YOUTUBE video dQw4w9WgXcQ")
    assert any("transcribed" in message for message in messages)
    assert messages[-1] == "[0] wrote results: dQw4w9WgXcQ.json, dQw4w9WgXcQ.vtt"


async def test_the_flaky_video_fails_once() -> None:
    extractor = SimulatedExtractor(speed=0)
    item = WorkItem(1, "YOUTUBE", FLAKY_CODE, f"https://www.youtube.com/watch?v={FLAKY_CODE}")
    with pytest.raises(RuntimeError, match="503"):
        await extractor(item, Lines())  # type: ignore[arg-type]
    await extractor(item, Lines())  # type: ignore[arg-type]
