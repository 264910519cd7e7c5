"""What the pages share: the current model, the current image, and where runs live.

The current model is a checkpoint path; the current image is a small uint8 array (H, W, 3) with a
caption. Both sit in st.session_state and are shown in the sidebar on every page.
"""

import os
from pathlib import Path

import streamlit as st

MODEL = "current_model"  # str path to a checkpoint, or absent
IMAGE = "current_image"  # dict(pixels=np.ndarray HxWx3 uint8, caption=str), or absent


def runs_root() -> Path:
    """Folder that holds one sub-folder per training run (env SSL_LAB_RUNS, default ./runs)."""
    return Path(os.environ.get("SSL_LAB_RUNS", "runs"))


def cache_root() -> Path:
    """Folder for uploads and imported checkpoints (env SSL_LAB_CACHE, default ~/.cache/ssl_lab)."""
    return Path(os.environ.get("SSL_LAB_CACHE", Path.home() / ".cache" / "ssl_lab"))


def max_train() -> int:
    """How many training processes may run at once on this server (env SSL_LAB_MAX_TRAIN)."""
    try:
        return max(1, int(os.environ.get("SSL_LAB_MAX_TRAIN", "2")))
    except ValueError:
        return 2


def owner() -> str:
    """This browser session's classroom identity (the name given in the sidebar), "" until one is given."""
    return st.session_state.get("owner", "")


def teacher() -> bool:
    """Whether this session gave the teacher key the server was started with (SSL_LAB_TEACHER_KEY)."""
    key = os.environ.get("SSL_LAB_TEACHER_KEY", "")
    return bool(key) and st.session_state.get("teacher_key") == key


def check_may_control(run_dir) -> None:
    """Only a run's owner, or the teacher, may stop, resume or delete it; a one-line UserError otherwise."""
    from ssl_core import runs  # here, not above: the sidebar on every page must not wait for torch
    from ssl_core.errors import UserError

    who = runs.read_info(run_dir)["owner"]
    if who and who != owner() and not teacher():
        raise UserError(f"{Path(run_dir).name} belongs to {who}: only {who} or the teacher can stop, resume or delete it")


def set_model(path) -> None:
    st.session_state[MODEL] = str(path)


def set_image(pixels, caption: str) -> None:
    st.session_state[IMAGE] = {"pixels": pixels, "caption": caption}


def sidebar() -> None:
    """Show the current model and image on every page."""
    with st.sidebar:
        st.markdown("**Current model**")
        model = st.session_state.get(MODEL)
        if model:
            st.caption(f"`{Path(model).name}`", help=model)
        else:
            st.caption("None yet: pick one on Checkpoints or train one on Train.")
        st.markdown("**Current image**")
        image = st.session_state.get(IMAGE)
        if image:
            st.image(image["pixels"], caption=image["caption"], width=96)
        else:
            st.caption("None yet: pick one on Data.")
