import json
import subprocess
import sys
from dataclasses import replace

from app.lessons import LESSONS
from tests.app.conftest import no_exception, open_page


def test_home_renders_lessons_and_sidebar():
    at = open_page()
    no_exception(at)
    assert at.title[0].value == "SSL Lab"
    assert "two different views" in at.markdown[0].value
    subheaders = [s.value for s in at.subheader]
    assert subheaders == [lesson["title"] for lesson in LESSONS]
    sidebar = " ".join(c.value for c in at.sidebar.caption)
    assert "None yet" in sidebar


def test_home_does_not_import_torch():
    # Heavy imports happen lazily, so the first page renders fast. A fresh process tells the truth.
    code = (
        "import sys; from streamlit.testing.v1 import AppTest; "
        "at = AppTest.from_file('streamlit_app.py').run(); assert not at.exception; "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_sidebar_shows_current_model():
    at = open_page(current_model="/tmp/some/model.safetensors")
    assert any("model.safetensors" in c.value for c in at.sidebar.caption)


def test_every_lesson_names_a_real_preset_and_page():
    from pathlib import Path

    from ssl_core.train.presets import PRESETS

    for lesson in LESSONS:
        page = Path(lesson["page"])
        preset = lesson["query"]["preset"]
        assert page.is_file(), lesson
        # a training preset, or a setting the page itself reads from its URL
        assert preset in PRESETS or f'"{preset}"' in page.read_text(), lesson
        for key, value in lesson["query"].items():  # the page's own settings, JSON as app.state.restore reads them
            if key != "preset":
                assert f'"{key}"' in page.read_text() and isinstance(json.loads(value), str | int | float), (lesson, key)
        assert all(lesson[k].strip() for k in ("goal", "text", "look_for", "question")), lesson


def test_collapse_presets_have_guarded_twins_that_point_back():
    from ssl_core.train.presets import PRESETS

    collapse = [n for n, p in PRESETS.items() if "guard" in p]
    assert "byol-collapse" in collapse
    for name in collapse:
        twin = PRESETS[PRESETS[name]["twin"]]
        assert twin["twin"] == name
        off, on = PRESETS[name]["config"].method_args, twin["config"].method_args
        assert all(k not in on for k in PRESETS[name]["guard"]) and all(off[k] == v for k, v in on.items())
        assert replace(twin["config"], method_args=off) == PRESETS[name]["config"]  # only the guard differs


def _table() -> dict:
    row = lambda name, knn: {"name": name, "backbone": "cnn", "minutes": 10, "steps": 100, "images_per_s": 200.0,
                             "knn_k200": knn, "knn_k20": knn, "pixels_k200": 0.35, "random_k200": 0.33,
                             "bank": 10000, "test": 10000}
    return {"measured": "2026-12-07", "command": "python bench/quality.py --methods all", "data": "CIFAR-10",
            "budget": "10 minutes of training, one core each", "machine": "2-core CPU, no GPU",
            "protocol": "kNN top-1, k=200", "kmeans_k200": 0.5, "rows": [row("simclr", 0.45), row("byol", 0.40)]}


def test_the_methods_lesson_draws_its_measured_table_or_says_how_to_measure_it(tmp_path, monkeypatch):
    lesson = next(lesson for lesson in LESSONS if lesson.get("chart"))
    monkeypatch.setitem(lesson, "chart", tmp_path / "methods-compared.json")
    at = open_page()
    no_exception(at)
    assert any("Not measured on this install" in i.value for i in at.info)
    (tmp_path / "methods-compared.json").write_text(json.dumps(_table()))
    at = open_page()
    no_exception(at)
    summary = next(m.value for m in at.markdown if m.value.startswith("Best of 2 methods"))
    assert "**simclr (cnn) 0.450**" in summary and "raw pixels 0.350, random-init cnn 0.330" in summary
    assert not at.get("plotly_chart")  # drawn on demand: Plotly costs every browser on its way through Home
    at.toggle(key="home_chart_methods").set_value(True).run()
    no_exception(at)
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    bars = next(t for t in chart["data"] if t["type"] == "bar")
    assert bars["y"] == ["byol (cnn)", "simclr (cnn)"]  # lowest first: the best on top
    lines = [t["name"] for t in chart["data"] if t["type"] == "scatter"]
    assert lines == ["raw pixels: 0.350", "random-init cnn: 0.330", "k-means features, no backprop: 0.500"]
    assert any("Measured 2026-12-07" in c.value for c in at.caption)
