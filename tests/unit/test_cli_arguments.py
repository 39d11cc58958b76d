"""``app.py serve`` refuses a port or a worker count out of range before anything starts, with
the same bounds as the environment's ``JOBGRAPH_PORT`` and ``JOBGRAPH_WORKERS``."""

from __future__ import annotations

import pytest

from cli import run


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--port", "99999"], "--port: must be between 0 and 65535; got 99999"),
        (["--port", "-1"], "--port: must be between 0 and 65535; got -1"),
        (["--port", "eighty"], "--port: not a whole number: 'eighty'"),
        (["--workers", "0"], "--workers: must be between 1 and 64; got 0"),
    ],
)
def test_serve_refuses_out_of_range_arguments(
    args: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        run(["serve", *args])
    assert exited.value.code == 2
    assert said in capsys.readouterr().err
