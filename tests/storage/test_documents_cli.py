"""``app.py documents add/list/remove`` against a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import run
from server.persisted import sha256_hex


def test_documents_add_list_remove(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("JOBGRAPH_DATABASE_URL", f"sqlite:///{tmp_path}/docs.db")
    document = tmp_path / "me.graphql"
    document.write_text("query Me { me { name } }\n")
    assert run(["documents", "add", str(document)]) == 0
    added = capsys.readouterr().out.strip()
    assert added == f"sha256:{sha256_hex(document.read_text())}"
    assert run(["documents", "add", str(document), "--id", "team.me"]) == 0
    manifest = tmp_path / "manifest.json"
    other = "query Other { me { tenant } }"
    manifest.write_text(json.dumps({sha256_hex(other): other}))
    assert run(["documents", "add", str(manifest)]) == 0
    capsys.readouterr()
    assert run(["documents", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert len(listed) == 3 and any(line.startswith("team.me\tquery Me") for line in listed)
    assert run(["documents", "remove", "team.me"]) == 0
    assert run(["documents", "remove", "team.me"]) == 1
    assert "no trusted document team.me" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "content", "extra"),
    [
        ("bad.json", '{"' + "0" * 64 + '": "{ me { name } }"}', []),
        ("doc.graphql", "{ me { name } }", ["--id", "has:colon"]),
        ("missing.graphql", None, []),
    ],
)
def test_documents_add_refuses_what_it_cannot_trust(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | None,
    extra: list[str],
) -> None:
    monkeypatch.setenv("JOBGRAPH_DATABASE_URL", f"sqlite:///{tmp_path}/docs.db")
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    assert run(["documents", "add", str(path), *extra]) == 2
    assert "cannot add" in capsys.readouterr().err
