"""Dictionary: placeholder until its own issue lands; the navigation already points here."""

from app.ui import coming

coming(
    "Dictionary",
    "train a sparse autoencoder on the current model's features and browse each dictionary "
    "feature with its top images and the data factor it tracks.",
)
