"""SSL Lab's engine: data, models, self-supervised methods, training, evaluation and analysis.

Importable and testable without Streamlit; the app in `app/` is a thin face over it, and
`python -m ssl_core` is the same engine from the command line.
"""

__version__ = "0.1.0"
