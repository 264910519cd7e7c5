"""Small helpers every page uses: catching bad input as one line, and explanations."""

from contextlib import contextmanager

import streamlit as st


@contextmanager
def user_errors():
    """Show an engine UserError as one st.error line instead of a traceback.

    Usage: `with user_errors(): ...`. Code after the failing call inside the block is skipped.
    """
    from ssl_core.errors import UserError

    try:
        yield
    except UserError as e:
        st.error(str(e).strip().splitlines()[0] if str(e).strip() else "Bad input.")


def coming(title: str, what: str) -> None:
    """Placeholder for pages whose issues come later; the navigation already points at them."""
    st.title(title)
    st.info(f"Coming: {what}")
