"""Map: placeholder until its own issue lands; the navigation already points here."""

from app.ui import coming

coming(
    "Map",
    "embed a whole dataset with the current model and explore it as a UMAP, PCA or t-SNE map "
    "with thumbnails, selection and nearest neighbours.",
)
