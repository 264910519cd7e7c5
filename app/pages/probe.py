"""Probe: placeholder until its own issue lands; the navigation already points here."""

from app.ui import coming

coming(
    "Probe",
    "measure which feature a model leans on when two are equally predictive (the shortcut "
    "bias), and probe which data factors its features encode.",
)
