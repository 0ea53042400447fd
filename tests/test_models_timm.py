"""The paper's models in timm's registry: every registered name builds (tiny overrides, and the real
ViT-B shapes on the meta device, parameters as the paper's Table 1), tags set the classes and frames,
``pretrained=True`` loads the released weights from their hub port (served by a stand-in
``snapshot_download`` returning a folder the test wrote) or a local file, and an unreachable hub
is an error saying how to work offline. ``import timesformer`` registers them without importing timm."""
import subprocess
import sys

import huggingface_hub
import pytest
import timm
import torch

from tests.checkpoints import hf_logits, install_fake_hub, write_hf_timesformer
from tests.conftest import ROOT, TINY
from timesformer.checkpoint import FetchError
from timesformer.checkpoint.zoo import ARCHITECTURES, RELEASED
from timesformer.models import TimeSformer, from_pretrained

NAMES = sorted(ARCHITECTURES)
K400 = "facebook/timesformer-base-finetuned-k400"
SMALL = {k: v for k, v in TINY.items() if k not in ("num_frames", "img_size", "num_classes")}  # the ViT sizes


def test_every_name_is_registered_and_listed():
    assert sorted(timm.list_models("timesformer*")) == NAMES
    assert sorted(timm.list_pretrained("timesformer*")) == sorted(RELEASED)
    assert timm.is_model("timesformer_hr_base_patch16_448.k600")


def test_import_timesformer_registers_without_importing_timm():
    code = ("import sys, timesformer; assert 'timm' not in sys.modules and 'torch' not in sys.modules, "
            "sorted(m for m in sys.modules if m.split('.')[0] in ('timm', 'torch')); "
            "import timm; print(','.join(timm.list_models('timesformer*')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip().split(",") == NAMES


@pytest.mark.parametrize("first", ["timesformer.checkpoint", "timesformer.engine"])
def test_timm_imported_inside_another_part_still_registers(first):
    # timm imported while a part of the package is being imported (checkpoint.convert and the trainer
    # import timm): registration must neither fail on the half-imported part nor warn
    code = (f"import {first}, timm; "
            "print(','.join(timm.list_models('timesformer*'))); "
            "model = timm.create_model('timesformer_base_patch16_224', depth=1, embed_dim=8, num_heads=2); "
            "print(type(model).__name__)")
    out = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == "", out.stderr[-3000:]
    assert out.stdout.split() == [",".join(NAMES), "TimeSformer"]


@pytest.mark.parametrize("name", NAMES)
def test_create_model_at_tiny_overrides(name):
    model = timm.create_model(name, pretrained=False, **TINY).eval()
    assert isinstance(model, TimeSformer)
    assert model.attention_type == ARCHITECTURES[name]["attention_type"]
    with torch.no_grad():
        assert model(torch.randn(2, 3, 4, 32, 32)).shape == (2, 5)
    data = timm.data.resolve_data_config(model=model)  # timm's data config describes our input
    assert data["input_size"] == (3, 32, 32) and data["mean"] == (0.45, 0.45, 0.45)


@pytest.mark.parametrize("name", NAMES)
def test_each_name_has_its_shape(name):
    with torch.device("meta"):  # the real ViT-B shapes, no memory
        vit = timm.create_model(name).model
    arch = ARCHITECTURES[name]
    assert (vit.embed_dim, vit.depth, vit.patch_size, vit.num_classes) == (768, 12, 16, 400)
    assert vit.num_frames == arch["num_frames"] and vit.patch_grid == (arch["img_size"] // 16,) * 2


# The paper's Table 1 (SPEC.md), 400 classes.
@pytest.mark.parametrize("name, millions", [
    ("timesformer_space_only_base_patch16_224", 86.106), ("timesformer_joint_base_patch16_224", 86.112),
    ("timesformer_base_patch16_224", 121.566), ("timesformer_local_global_base_patch16_224", 121.566),
    ("timesformer_axial_base_patch16_224", 157.020)])
def test_parameters_are_the_papers(name, millions):
    with torch.device("meta"):
        model = timm.create_model(name)
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 3) == millions


@pytest.mark.parametrize("name, classes, frames", [
    ("timesformer_base_patch16_224.k600", 600, 8), ("timesformer_hr_base_patch16_448.ssv2", 174, 16),
    ("timesformer_l_base_patch16_224.k400", 400, 96), ("timesformer_l_base_patch16_224.ssv2", 174, 64)])
def test_a_tag_sets_the_classes_and_frames_of_its_weights(name, classes, frames):
    with torch.device("meta"):
        model = timm.create_model(name)
    assert (model.model.num_classes, model.model.num_frames) == (classes, frames)
    assert model.pretrained_cfg["tag"] == name.split(".")[1]
    with torch.device("meta"):  # an override wins over the tag
        assert timm.create_model(name, num_classes=7).model.num_classes == 7


def test_an_unknown_tag_or_missing_weights_are_errors():
    with pytest.raises(ValueError, match=r"timesformer_base_patch16_224.k700: no such weights; .* k400, k600, ssv2"):
        timm.create_model("timesformer_base_patch16_224.k700", **TINY)
    with pytest.raises(ValueError, match="released no weights for the axial scheme; use pretrained=False"):
        timm.create_model("timesformer_axial_base_patch16_224", pretrained=True)


def test_pretrained_loads_the_hub_port(tmp_path, monkeypatch):
    hf = write_hf_timesformer(tmp_path / "snapshot")
    calls = install_fake_hub(monkeypatch, tmp_path / "snapshot", served=K400)
    model = timm.create_model("timesformer_base_patch16_224", pretrained=True).eval()  # default tag: k400
    assert [c[0] for c in calls] == [K400]
    assert model.class_names == [f"class{i}" for i in range(5)] and model.pretrained_cfg["num_frames"] == 4
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert (model(x) - hf_logits(hf, x)).abs().max() <= 1e-4
    new_head = timm.create_model("timesformer_base_patch16_224.k400", pretrained=True, num_classes=3)
    assert new_head.model.num_classes == 3
    assert torch.equal(new_head.model.pos_embed, model.model.pos_embed)  # the backbone's weights kept


def test_pretrained_from_a_local_copy_never_asks_the_hub(tmp_path, monkeypatch):
    write_hf_timesformer(tmp_path / "copy")
    calls = install_fake_hub(monkeypatch, tmp_path / "nothing")
    model = timm.create_model("timesformer_hr_base_patch16_448.ssv2", pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(tmp_path / "copy")))
    assert calls == [] and model.model.num_classes == 5


def test_offline_is_an_error_naming_the_hub_id_and_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # conftest sets HF_HUB_OFFLINE=1
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(FetchError) as e:
        timm.create_model("timesformer_base_patch16_224.ssv2", pretrained=True)
    message = str(e.value)
    assert "facebook/timesformer-base-finetuned-ssv2" in message and "timesformer_base_patch16_224.ssv2" in message
    assert "hf download facebook/timesformer-base-finetuned-ssv2" in message
    assert "pretrained_cfg_overlay=dict(file=PATH)" in message


def test_a_released_name_is_a_weights_source(tmp_path, monkeypatch):
    # TIMESFORMER.PRETRAINED_MODEL, --weights and from_pretrained take the names too
    write_hf_timesformer(tmp_path / "snapshot")
    calls = install_fake_hub(monkeypatch, tmp_path / "snapshot", served=K400)
    model = from_pretrained("timesformer_base_patch16_224.k400")
    assert [c[0] for c in calls] == [K400] and model.model.num_classes == 5


def test_a_scheme_without_released_weights_loads_a_local_copy(tmp_path, monkeypatch):
    write_hf_timesformer(tmp_path / "joint", scheme="joint_space_time")
    calls = install_fake_hub(monkeypatch, tmp_path / "nothing")
    model = timm.create_model("timesformer_joint_base_patch16_224", pretrained=True,
                              pretrained_cfg_overlay=dict(file=str(tmp_path / "joint")))
    assert calls == [] and model.model.num_classes == 5 and model.model.attention_type == "joint_space_time"
    assert model.pretrained_cfg["tag"] is None
