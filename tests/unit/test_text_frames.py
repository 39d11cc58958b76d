"""Text frames written by a cohort's producer (``engine.compat``) are what websockets reads."""

from __future__ import annotations

import pytest
from websockets.frames import Frame, Opcode
from websockets.protocol import Protocol, Side, State

from engine.compat import _text_frame


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65_535, 65_536, 200_000])
def test_a_text_frame_of_any_length_reads_back_whole(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)  # multi-byte characters: the length is bytes
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(_text_frame(text) + _text_frame("next"))
    frames = [event for event in client.events_received() if isinstance(event, Frame)]
    assert [(frame.opcode, frame.fin) for frame in frames] == [(Opcode.TEXT, True)] * 2
    assert [bytes(frame.data).decode() for frame in frames] == [text, "next"]
