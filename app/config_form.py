"""Widgets for every TrainConfig field and every parameter of the chosen method.

Each widget shows the engine's own sentence for its field (field_docs / method_params), so the
explanation next to a control is written once, in the engine.
"""

import dataclasses
import json
import types

import streamlit as st

from ssl_core.methods import METHODS, method_params
from ssl_core.train.config import field_docs

CHOICES = {
    "schedule": ["cosine", "infinite", "constant"],
    "dtype": ["auto", "bf16", "fp32"],
    "device": ["auto", "cpu", "cuda", "mps"],
}


def _optional(tp) -> bool:
    return isinstance(tp, types.UnionType) and type(None) in tp.__args__


def _base(tp):
    if isinstance(tp, types.UnionType):
        return next(a for a in tp.__args__ if a is not type(None))
    return tp


def field_widget(name: str, tp, value, doc: str, key: str):
    """One widget for one value; the type decides the widget. Returns the new value."""
    base = _base(tp) if tp is not None else type(value)
    if name in CHOICES:
        options = CHOICES[name] if value in CHOICES[name] else [value, *CHOICES[name]]
        out = st.selectbox(name, options, index=options.index(value), key=key)
    elif base is bool:
        out = st.checkbox(name, value=bool(value), key=key)
    elif base is int:
        out = st.number_input(name, value=value, step=1, key=key,
                              placeholder="not set" if value is None else None)
        out = None if out is None else int(out)
    elif base is float:
        out = st.number_input(name, value=None if value is None else float(value), format="%g", key=key,
                              step=None, placeholder="not set")
    elif base is str:
        out = st.text_input(name, value=value or "", key=key)
        out = out if out or not (tp is None or _optional(tp)) else None
    else:  # None (empty = not set), numbers that may be None, tuples, lists, dicts: edit as JSON
        text = st.text_input(name, value="" if value is None else json.dumps(value), key=key,
                             placeholder="not set")
        try:
            out = json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            st.error(f"{name}: {text!r} is not a number or JSON value; keeping {json.dumps(value)}")
            out = value
    st.caption(doc)
    return out


BUDGETS = ("minutes", "steps", "epochs")


def budget_widget(config, key: str) -> dict:
    """One budget: a choice of minutes, steps or epochs, and how many (the others are then unset)."""
    current = next((k for k in BUDGETS if getattr(config, k) is not None), "steps")
    cols = st.columns([1, 2])
    kind = cols[0].radio("Budget in", BUDGETS, index=BUDGETS.index(current), horizontal=True, key=f"{key}:budget")
    default = getattr(config, kind) if kind == current else {"minutes": 3.0, "steps": 1000, "epochs": 10.0}[kind]
    if kind == "steps":
        amount = cols[1].number_input(kind, value=int(default), step=1, min_value=1, key=f"{key}:{kind}")
    else:
        amount = cols[1].number_input(kind, value=float(default), step=0.5, min_value=0.1, key=f"{key}:{kind}")
    cols[1].caption({"minutes": "Wall-clock minutes of training; the schedules follow the elapsed time.",
                     "steps": "Optimiser steps.", "epochs": "Passes over the training images."}[kind])
    return {k: (int(amount) if k == "steps" else float(amount)) if k == kind else None for k in BUDGETS}


def config_form(config, key: str):
    """Every TrainConfig field (except method_args) and the method's parameters, in three columns.

    `config` is the preset's TrainConfig; `key` scopes the widgets so a new preset resets them.
    Returns a new TrainConfig.
    """
    docs = field_docs(METHODS[config.method].kind if config.method in METHODS else None)
    values = budget_widget(config, key)
    fields = [f for f in dataclasses.fields(config)
              if f.name in docs and f.name not in ("method", "method_args", *BUDGETS)]
    cols = st.columns(3)
    for i, f in enumerate(fields):
        with cols[i % 3]:
            values[f.name] = field_widget(f.name, f.type, getattr(config, f.name), docs.get(f.name, ""),
                                          key=f"{key}:{f.name}")
    new = dataclasses.replace(config, **values)
    if config.method in METHODS:
        st.markdown(f"**{config.method} parameters**")
        args = dict(config.method_args)
        params = method_params(config.method)
        defaults = {name: default for name, default, _ in params}
        cols = st.columns(3)
        for i, (name, default, doc) in enumerate(params):
            with cols[i % 3]:
                args[name] = field_widget(name, None, args.get(name, default), doc, key=f"{key}:m:{name}")
        # Keep only what the preset set or the user changed: config.json then says what was chosen.
        new.method_args = {k: v for k, v in args.items() if k in config.method_args or v != defaults[k]}
    return new
