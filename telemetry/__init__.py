"""Observability that several layers share: OpenTelemetry tracing, off unless configured.

It imports nothing of jobgraph's, so every layer may use it; the composition root
(``app.py``) turns it on from the standard ``OTEL_*`` variables.
"""
