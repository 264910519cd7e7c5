"""Look: placeholder until its own issue lands; the navigation already points here."""

from app.ui import coming

coming(
    "Look",
    "click a patch of the current image to see which patches the model thinks alike, the mask "
    "this implies, per-head attention maps and a PCA of patch features as colours.",
)
