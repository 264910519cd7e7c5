"""What the pages share: who is using this browser tab, the current model and image, where runs live, which
paths a visitor may name, and the settings that survive a reload (the URL's query parameters).

The current model is a checkpoint path; the current image is a small uint8 array (H, W, 3) with a caption.
Both sit in st.session_state and are shown in the sidebar on every page; the current model and the name
are also kept in the URL (`?model=...&me=...`), so a reload or a shared link keeps them.

Kept light: the sidebar renders on every page, so nothing here imports torch at the top.
"""

import json
import os
import uuid
from pathlib import Path

import streamlit as st

from ssl_core.errors import UserError

MODEL = "current_model"  # str path to a checkpoint, or absent
IMAGE = "current_image"  # dict(pixels=np.ndarray HxWx3 uint8, caption=str), or absent
OWNER = "owner"
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def runs_root() -> Path:
    """Folder that holds one sub-folder per training run (env SSL_LAB_RUNS, default ./runs)."""
    return Path(os.environ.get("SSL_LAB_RUNS", "runs"))


def cache_root() -> Path:
    """Folder for uploads and imported checkpoints (env SSL_LAB_CACHE, default ~/.cache/ssl_lab)."""
    return Path(os.environ.get("SSL_LAB_CACHE", Path.home() / ".cache" / "ssl_lab"))


def max_train() -> int:
    """How many training processes may run at once on this server (env SSL_LAB_MAX_TRAIN; by default one per
    two cores, at least one: a training process uses two threads, and the pages need a core to answer)."""
    default = max(1, (os.cpu_count() or 2) // 2)
    try:
        return max(1, int(os.environ.get("SSL_LAB_MAX_TRAIN", default)))
    except ValueError:
        return default


# ---- who ----------------------------------------------------------------------------------------------

def owner() -> str:
    """This session's classroom identity: the signed-in user where the server has authentication, else the
    name given in the sidebar; "" until there is one."""
    user = getattr(st, "user", None)
    try:
        if user is not None and user.is_logged_in:
            return str(user.get("email") or user.get("name") or "")
    except (AttributeError, KeyError):  # no authentication configured
        pass
    return st.session_state.get(OWNER, "")


def teacher() -> bool:
    """Whether this session gave the teacher key the server was started with (SSL_LAB_TEACHER_KEY)."""
    key = os.environ.get("SSL_LAB_TEACHER_KEY", "")
    return bool(key) and st.session_state.get("teacher_key") == key


def may_control(run_dir) -> bool:
    from ssl_core import (
        runs,  # here, not above: the sidebar on every page must not wait for torch
    )

    who = runs.read_info(run_dir)["owner"]
    return not who or who == owner() or teacher()


def check_may_control(run_dir) -> None:
    """Only a run's owner, or the teacher, may stop, resume, download or delete it; one line otherwise."""
    from ssl_core import runs  # not above: torch (see may_control)

    if not may_control(run_dir):
        who = runs.read_info(run_dir)["owner"]
        raise UserError(f"{Path(run_dir).name} belongs to {who}: only {who} or the teacher can stop, resume, download "
                        "or delete it")


# ---- which paths a visitor may name -------------------------------------------------------------------

def session_id() -> str:
    """A random id of this browser session (it names the session's upload folder)."""
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = uuid.uuid4().hex[:16]
    return st.session_state["session_id"]


def uploads_root() -> Path:
    return cache_root() / "uploads"


def roots() -> list[Path]:
    """The folders this server shares (env SSL_LAB_DATA_ROOTS, separated by the path separator; by default the
    bundled assets and the runs folder), and always this session's own uploads and imports. Set it to / on a
    private machine."""
    text = os.environ.get("SSL_LAB_DATA_ROOTS")
    named = [Path(p) for p in text.split(os.pathsep) if p] if text else [ASSETS, runs_root()]
    return [p.expanduser().resolve() for p in [*named, uploads_root() / session_id()]]


def allowed(text: str) -> str:
    """The resolved path if it lies inside a shared root; else one line that says nothing about what is there
    (whether it exists or not, the answer is the same)."""
    p = Path(text.strip()).expanduser().resolve()
    if not any(p == r or r in p.parents for r in roots()):
        raise UserError(f"{text.strip()} is not in a folder this server shares: use a training run, an upload, or ask "
                        "the teacher to add its folder to SSL_LAB_DATA_ROOTS")
    return str(p)


def allowed_data(spec: str) -> str:
    """A dataset spec: a built-in name (with options) as it is, a folder only inside a shared root."""
    from ssl_core.data.builtin import BUILTINS
    from ssl_core.data.load import parse_spec

    return spec if parse_spec(spec)[0] in BUILTINS else allowed(spec)


# ---- what survives a reload -----------------------------------------------------------------------------

def restore(keys: dict[str, tuple]) -> None:
    """Before a page's widgets: each key missing from the session takes the URL's value, if it is one the
    widget can show (`key: (default, allowed values)`: a list of options, a range, or None for any value of the
    default's type), else the default
    (a default of None leaves the key to the widget). Widgets created with these keys then show them, and
    must not be given a value of their own; `remember` writes them back after."""
    for key, (default, allowed_values) in keys.items():
        if key in st.session_state:
            continue
        try:
            value = json.loads(st.query_params.get(key, "null"))
        except ValueError:
            value = None
        same_type = type(value) is type(default) if default is not None else isinstance(value, str)
        ok = same_type and (allowed_values is None or value in allowed_values)
        if ok or default is not None:
            st.session_state[key] = value if ok else default


def remember(keys) -> None:
    """After a page's widgets: their values into the URL, so a reload (or a shared link) restores them."""
    for key in keys:
        if key in st.session_state and isinstance(st.session_state[key], str | int | float | bool):
            text = json.dumps(st.session_state[key])
            if st.query_params.get(key) != text:
                st.query_params[key] = text


def model_label(path) -> str:
    """A name that tells models apart on a projector: `run · step 273` for a run's checkpoint, the file's name
    otherwise (not only `step_0000273.safetensors`)."""
    p = Path(path)
    if p.parent.name == "checkpoints" and p.stem.startswith("step_") and p.stem[5:].isdigit():
        return f"{p.parent.parent.name} · step {int(p.stem[5:])}"
    return p.name


def set_model(path) -> None:
    st.session_state[MODEL] = str(path)
    st.query_params["model"] = str(path)


def set_image(pixels, caption: str) -> None:
    st.session_state[IMAGE] = {"pixels": pixels, "caption": caption}


def sidebar() -> None:
    """Who is here, the current model and the current image, on every page."""
    if MODEL not in st.session_state and st.query_params.get("model"):
        st.session_state[MODEL] = st.query_params["model"]  # only named in the URL: pages open it through `allowed`
    if OWNER not in st.session_state and st.query_params.get("me"):
        st.session_state[OWNER] = st.query_params["me"]
    with st.sidebar:
        if not owner():
            name = st.text_input("Your name", key="owner_input", placeholder="for your runs on this server")
            st.caption("Runs you start carry your name; only you (or the teacher) can stop or delete them.")
            if name.strip():
                st.session_state[OWNER] = name.strip()[:40]
                st.query_params["me"] = st.session_state[OWNER]
                st.rerun()
        else:
            st.markdown(f"**{owner()}**" + (" · teacher" if teacher() else ""))
        if os.environ.get("SSL_LAB_TEACHER_KEY") and not teacher():
            with st.expander("Teacher"):
                st.text_input("Teacher key", type="password", key="teacher_key")
        st.markdown("**Current model**")
        model = st.session_state.get(MODEL)
        if model:
            st.caption(f"`{model_label(model)}`")
        else:
            st.caption("None yet: pick one on Checkpoints or train one on Train. Look opens on the shipped model.")
        st.markdown("**Current image**")
        image = st.session_state.get(IMAGE)
        if image:
            st.image(image["pixels"], caption=image["caption"], width=96)
        else:
            st.caption("None yet: pick one on Data.")
