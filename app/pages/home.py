"""Home: what self-supervised learning is, and a path through the lessons."""

import json

import streamlit as st

from app import charts
from app.lessons import LESSONS


st.title("SSL Lab")
st.markdown(
    "**Self-supervised learning (SSL)** teaches a network to describe images without labels. "
    "The trick: show it two different views of the same image (cropped, recoloured, partly "
    "hidden) and ask that their descriptions agree, while not letting every image get the same "
    "description. What it learns turns out to find objects, group classes and segment images."
)
st.markdown(
    "Follow the lessons in order, or jump in: **Data** shows what the model sees, **Train** "
    "trains a small model in minutes on a laptop, **Checkpoints** opens any model file."
)

st.header("Lessons")
for lesson in LESSONS:
    page = lesson["page"].rsplit("/", 1)[-1].removesuffix(".py").capitalize()
    with st.container(border=True):
        st.subheader(lesson["title"])
        # One markdown element for the card's text: a class switches to Home often, and every element costs
        # each browser its share of the frontend's work (bench/results/load.md).
        st.markdown(f"**Goal.** {lesson['goal']}\n\n{lesson['text']}\n\n**Look for.** {lesson['look_for']}\n\n"
                    f"**Question for the class.** {lesson['question']}")
        if lesson.get("chart"):
            if lesson["chart"].exists():
                table = json.loads(lesson["chart"].read_text())
                st.markdown(charts.methods_summary(table))
                # On demand: a Plotly chart costs each browser about a second of its main thread on the way into
                # Home and out of it again.
                if st.toggle("Draw the chart", key=f"home_chart_{lesson['key']}"):
                    st.plotly_chart(charts.methods_compared(table), key=f"lesson_{lesson['key']}")
                st.caption(f"Measured {table['measured']} on a {table['machine']}: {table['protocol']}. "
                           f"`{table['command']}`")
            else:
                st.info(f"Not measured on this install: `python bench/quality.py --methods all --backbone cnn "
                        f"--jobs 2 --minutes 3 --lesson {lesson['chart']}` draws it (about 40 minutes).")
        st.page_link(lesson["page"], label=f"Open {page} with {lesson['query']['preset']}",
                     icon=":material/arrow_forward:", query_params=lesson["query"])
