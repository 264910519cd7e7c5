"""Checkpoints: being built against the engine (ssl_core) as it lands."""

from app.ui import coming

coming("Checkpoints", "this page is being built while the engine lands.")
