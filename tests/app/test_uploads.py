"""Uploads per session, under unique names, within caps and a quota, swept after a day (app/uploads.py), with
Streamlit's own UploadedFile inside a real script run."""

import os
import time

from streamlit.testing.v1 import AppTest


def script():
    import streamlit as st
    from streamlit.proto.Common_pb2 import FileURLs
    from streamlit.runtime.uploaded_file_manager import UploadedFile, UploadedFileRec

    from app import uploads
    from app.ui import user_errors

    uploads.CAPS["checkpoint"] = 3000  # small caps, so the test writes kilobytes
    uploads.QUOTA = 5000
    for i, size in enumerate(st.session_state.get("sizes", [])):
        file = UploadedFile(UploadedFileRec(str(i), "model.safetensors", "application/octet-stream", b"x" * size),
                            FileURLs())
        with user_errors():
            st.session_state.setdefault("saved", []).append(str(uploads.save(file, "checkpoint")))


def session(sizes) -> AppTest:
    at = AppTest.from_function(script, default_timeout=30)
    at.session_state["sizes"] = sizes
    return at.run()


def test_two_sessions_uploading_one_name_keep_both(tmp_path):
    a, b = session([1000]), session([2000])
    [pa], [pb] = a.session_state["saved"], b.session_state["saved"]
    a.run()  # a rerun sees the same upload again: the same file, not a second copy
    assert a.session_state["saved"] == [pa, pa] and len(os.listdir(os.path.dirname(pa))) == 1
    assert pa != pb and os.path.dirname(pa) != os.path.dirname(pb)
    assert os.path.getsize(pa) == 1000 and os.path.getsize(pb) == 2000  # B's upload did not replace A's


def test_caps_and_the_quota_are_one_line_each(tmp_path):
    at = session([4000])
    assert at.session_state["saved"] == [] and any("at most" in e.value for e in at.error)
    at = session([2800, 2800])
    assert len(at.session_state["saved"]) == 1 and any("would pass" in e.value for e in at.error)


def test_folders_untouched_for_a_day_are_swept(tmp_path):
    [old] = session([10]).session_state["saved"]
    folder = os.path.dirname(old)
    day_ago = time.time() - 25 * 3600
    os.utime(folder, (day_ago, day_ago))
    session([10])  # anyone's upload sweeps
    assert not os.path.exists(folder)
