"""The installed distribution's version, from its metadata (pyproject.toml is the one place
it is written)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("jobgraph-worker")
except PackageNotFoundError:  # imported from a source tree that was never installed
    __version__ = "0+unknown"
