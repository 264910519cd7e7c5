"""The Dictionary page's parts: training a sparse autoencoder as a run (`train`), the feature browser
(`browse`), and the comparison with supervised dictionaries (`compare`), over cached work (`compute`)."""
