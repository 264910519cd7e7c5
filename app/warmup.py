"""Compile umap-learn's numba code in the background once per server process, so the first UMAP drawn on
the Map page does not pay the compilation (tens of seconds on a small CPU).

streamlit_app.py calls `start()` on every run; the cache makes it start one thread per process. The
thread waits a few seconds first, so the first page renders before heavy imports compete for the CPU.
Nothing starts under AppTest (it imports streamlit.testing) or with SSL_LAB_WARM_UP=0.
"""

import os
import sys
import threading
import time

import streamlit as st


@st.cache_resource(show_spinner=False)
def _thread(delay: float) -> threading.Thread:
    def work():
        time.sleep(delay)
        from ssl_core.analysis.embedding import warm_up

        warm_up()

    t = threading.Thread(target=work, name="umap-warm-up", daemon=True)
    t.start()
    return t


def start(delay: float = 5.0) -> None:
    if os.environ.get("SSL_LAB_WARM_UP", "1") != "0" and "streamlit.testing.v1" not in sys.modules:
        _thread(delay)
