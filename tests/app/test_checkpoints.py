import json

import torch

from tests.app.conftest import button, errors, no_exception, open_page, tiny_checkpoint


class Evil:
    """Any class outside torch's allow-list makes a pickle unsafe to open."""


def use_path(at, path):
    at.radio[0].set_value("A path on this server").run()
    at.text_input[0].input(str(path)).run()
    return at


def test_path_shows_summary_and_sets_current_model(tmp_path):
    ckpt = tiny_checkpoint(tmp_path / "model.safetensors")
    at = use_path(open_page("checkpoints"), ckpt)
    no_exception(at)
    assert not errors(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Architecture"] == "vit"
    assert metrics["Method"] == "simclr" and metrics["Step"] == "10"
    assert metrics["Parameters"].endswith(" M")
    button(at, "Use as current model").click().run()
    no_exception(at)
    assert at.session_state["current_model"] == str(ckpt)
    assert any("model.safetensors" in c.value for c in at.sidebar.caption)
    assert "This is the current model." in [s.value for s in at.success]


def test_bad_files_are_one_line_errors(tmp_path):
    not_ckpt = tmp_path / "notes.safetensors"
    not_ckpt.write_text("hello")
    for path in [tmp_path / "missing.safetensors", not_ckpt]:
        at = use_path(open_page("checkpoints"), path)
        no_exception(at)
        assert len(errors(at)) == 1 and "\n" not in errors(at)[0], errors(at)


def test_import_timm_and_refuse_unsafe_pickle(tmp_path):
    from ssl_core.models import build_backbone, parse_backbone

    model = build_backbone(parse_backbone("vit:dim=32,depth=1,heads=2,patch=8", 32))
    torch.save(model.state_dict(), tmp_path / "vit.pth")
    at = open_page("checkpoints")
    at.radio[0].set_value("Import a DINO or timm ViT").run()
    at.radio[1].set_value("timm").run()
    at.text_input(key="import_path").input(str(tmp_path / "vit.pth")).run()
    button(at, "Import").click().run()
    no_exception(at)
    assert not errors(at), errors(at)
    assert {m.label: m.value for m in at.metric}["Architecture"] == "vit"

    torch.save({"model": Evil()}, tmp_path / "evil.pth")
    at.text_input(key="import_path").input(str(tmp_path / "evil.pth")).run()
    button(at, "Import").click().run()
    no_exception(at)
    assert len(errors(at)) == 1 and "unsafe" in errors(at)[0]


def test_run_checkpoints_are_listed(tmp_path):
    run = tmp_path / "runs" / "my-run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"method": "simclr", "data": "shapes"}))
    tiny_checkpoint(run / "checkpoints" / "step_00000010.safetensors")
    at = open_page("checkpoints")
    no_exception(at)
    assert at.selectbox[0].value == "my-run"
    assert {m.label: m.value for m in at.metric}["Step"] == "10"


def test_without_runs_it_offers_the_shipped_model():
    at = open_page("checkpoints")
    no_exception(at)
    assert at.selectbox[0].value == "shipped with SSL Lab" and at.selectbox[1].value.name == "default.safetensors"


def test_with_nothing_at_all_it_says_so(monkeypatch, tmp_path):
    monkeypatch.setattr("app.models.SHIPPED", tmp_path)
    at = open_page("checkpoints")
    no_exception(at)
    assert "No run has saved a checkpoint yet" in at.info[0].value
