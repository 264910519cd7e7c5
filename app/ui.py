"""Small helpers every page uses: catching bad input as one line, and explanations."""

import logging
from contextlib import contextmanager

import streamlit as st

from ssl_core.errors import UserError


@contextmanager
def user_errors():
    """Show an engine UserError as one st.error line instead of a traceback; any other exception is a
    bug, shown as one "Unexpected error" line with its traceback in the server log.

    Usage: `with user_errors(): ...`. Code after the failing call inside the block is skipped.
    """
    try:
        yield
    except UserError as e:
        st.error(str(e).strip().splitlines()[0] if str(e).strip() else "Bad input.")
    except Exception as e:  # a bug of ours (st.stop and st.rerun are BaseExceptions and pass through)
        logging.getLogger("ssl_lab").exception("unexpected error")
        st.error(f"Unexpected error ({type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}); "
                 "the details are in the server log. Please report it.")


def attempt(fn, *args, **kwargs):
    """fn(*args, **kwargs), with bad input shown as one line (see `user_errors`); None when it failed."""
    with user_errors():
        return fn(*args, **kwargs)
    return None


def rerun_when_ended(key: str, active: bool) -> None:
    """Inside a live fragment: when the run it watches has just ended, rerun the whole page once.

    The fragment's timer was set by the last full run; without this it keeps ticking after the run ends,
    the buttons outside it stay as they were, and a tick that lands during the next full run can draw the
    fragment over whatever that run put in its place."""
    if st.session_state.get(key) and not active:
        st.session_state[key] = False
        st.rerun()
    st.session_state[key] = active


def duration(seconds) -> str:
    """12 s, 3 min 5 s, 2 h 10 min."""
    m, s = divmod(int(seconds or 0), 60)
    h, m = divmod(m, 60)
    return f"{h} h {m} min" if h else f"{m} min {s} s" if m else f"{s} s"
