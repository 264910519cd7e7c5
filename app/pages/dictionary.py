"""Dictionary: train a sparse autoencoder on a checkpoint's features, browse its features, and judge it against
supervised dictionaries built from the known factors. The parts live in app/dictionary/."""

import streamlit as st

from app.dictionary import browse, compare, compute, train

PARTS = {"train": "Train", "browse": "Browse", "compare": "Compare"}

st.title("Dictionary")
st.caption("What are the directions a model's features are made of? A sparse autoencoder learns a dictionary of them, "
           "each firing rarely; browse what each one fires on, and compare with the factors we know made the images.")
if st.query_params.get("preset") == "dictionaries" and not st.session_state.get("dict_lesson"):
    # The lesson opens on the shipped dictionary; without one (deleted), it starts by training one.
    lesson = next(iter(compute.shipped()), None)
    st.session_state.update(dict_lesson=True, dict_part="browse" if lesson else "train",
                            **({"dict_pick": lesson} if lesson else {}))
part = st.radio("Part", list(PARTS), format_func=PARTS.get, horizontal=True, key="dict_part")
if st.session_state.get("dict_lesson"):
    first = "" if compute.shipped() else ("First train a dictionary of the shipped model with this part's "
                                          "defaults (two minutes on the scenes' patch tokens), then open Browse. ")
    st.info(f"Lesson 8, Feature dictionaries. {first}Sort by density, search for a colour, open a feature and click "
            "its patches. Question for the class: does each feature stand for one factor value, and which factors own "
            "no feature?")
{"train": train.show, "browse": browse.show, "compare": compare.show}[part]()
