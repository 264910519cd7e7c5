"""SSL Lab: the app's entry point. Run with `streamlit run streamlit_app.py`.

This file is the frame around every page: it sets up navigation and the sidebar that shows the
current model and the current image. Pages live in app/pages/, one short module each.
"""

# plotly imports pandas lazily, outside the import lock: a page drawing its first chart while the warm-up
# thread imports pandas could meet a half-initialised module. Importing it here, first, closes that race.
import pandas  # noqa: F401
import streamlit as st

from app import state, warmup

st.set_page_config(page_title="SSL Lab", page_icon=":material/science:", layout="wide")

PAGES = [
    st.Page("app/pages/home.py", title="Home", icon=":material/home:", url_path="home", default=True),
    st.Page("app/pages/data.py", title="Data", icon=":material/photo_library:", url_path="data"),
    st.Page("app/pages/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("app/pages/look.py", title="Look", icon=":material/visibility:", url_path="look"),
    st.Page("app/pages/map.py", title="Map", icon=":material/scatter_plot:", url_path="map"),
    st.Page("app/pages/probe.py", title="Probe", icon=":material/science:", url_path="probe"),
    st.Page("app/pages/dictionary.py", title="Dictionary", icon=":material/menu_book:", url_path="dictionary"),
    st.Page("app/pages/checkpoints.py", title="Checkpoints", icon=":material/save:", url_path="checkpoints"),
]

warmup.start()  # compiles UMAP's numba code in a background thread, once per server (Map page)
page = st.navigation(PAGES)
state.sidebar()
page.run()
