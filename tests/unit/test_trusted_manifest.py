"""The pages' trusted documents: the committed manifest matches the modules it is built from,
every document in it is valid against the schema, and the server loads it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from graphql import parse, validate

from engine.compat import core_schema
from schema.build import build_schema
from server.persisted import BUILT_IN_MANIFEST, load_manifest, sha256_hex
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_committed_manifest_is_fresh() -> None:
    result = subprocess.run(
        ["node", "web/documents.mjs", "--check"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, f"run `make documents`: {result.stderr}"


def test_every_trusted_document_is_valid_and_keyed_by_its_hash() -> None:
    raw = json.loads(BUILT_IN_MANIFEST.read_text())
    assert len(raw) >= 10
    schema = core_schema(build_schema(Settings()))
    for digest, text in raw.items():
        assert sha256_hex(text) == digest
        assert validate(schema, parse(text)) == [], text
    assert set(load_manifest(BUILT_IN_MANIFEST)) == {f"sha256:{digest}" for digest in raw}
