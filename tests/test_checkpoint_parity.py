"""Same weights, same logits: transformers' TimeSformer, the .pyth layout, timm ViTs (.pth, .npz,
timm names), all from files the tests write themselves."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from tests.checkpoints import damage_data, hf_logits, randomise, write_hf_timesformer
from tests.conftest import ROOT, load_tool
from timesformer.checkpoint import read_source
from timesformer.models import TimeSformer, from_pretrained, load_pretrained
from timesformer.models import from_pretrained as models_from_pretrained

HF_SCHEMES = ("divided_space_time", "joint_space_time")
VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory):
    """A randomly initialised transformers TimeSformer per scheme, saved with save_pretrained."""
    out = {}
    for scheme in HF_SCHEMES:
        folder = tmp_path_factory.mktemp(scheme)
        out[scheme] = (write_hf_timesformer(folder, scheme), folder)
    return out


@pytest.mark.parametrize("scheme", HF_SCHEMES)
def test_hf_parity_and_pyth_round_trip(hf_folders, scheme, tmp_path):
    convert = load_tool("convert_checkpoint").main
    hf, folder = hf_folders[scheme]
    x = torch.randn(2, 3, 4, 32, 32)
    expected = hf_logits(hf, x)
    model = models_from_pretrained(str(folder)).eval()
    assert model.attention_type == scheme and model.class_names == [f"class{i}" for i in range(5)]
    with torch.no_grad():
        assert (model(x) - expected).abs().max() <= 1e-4

    pyth, back = tmp_path / "k.pyth", tmp_path / "hf_back"
    assert convert([str(folder), str(pyth), "--to", "pyth"]) == 0
    raw = torch.load(pyth, weights_only=True)
    assert set(raw) >= {"model_state", "cfg", "epoch"}
    assert all(k.startswith("model.") for k in raw["model_state"])
    from_pyth = from_pretrained(str(pyth)).eval()
    with torch.no_grad():
        assert (from_pyth(x) - expected).abs().max() <= 1e-4

    assert convert([str(pyth), str(back), "--to", "hf"]) == 0  # ... and back: bit-exact
    a, b = read_source(str(folder)).state_dict, read_source(str(back)).state_dict
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert read_source(str(back)).class_names == [f"class{i}" for i in range(5)]


def test_hf_folder_written_by_us_loads_in_transformers(tmp_path):
    from transformers import TimesformerForVideoClassification

    from timesformer.checkpoint import Weights, write_weights

    torch.manual_seed(2)
    ours = TimeSformer(num_frames=4, num_classes=3, attention_type="divided_space_time", **VIT).eval()
    randomise(ours)
    write_weights(Weights(ours.model.state_dict(), "timesformer", "memory", meta=dict(num_heads=2)),
                  str(tmp_path / "hf"), "hf")
    hf = TimesformerForVideoClassification.from_pretrained(tmp_path / "hf").eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert (ours(x) - hf_logits(hf, x)).abs().max() <= 1e-4


def test_convert_tool_command_line(hf_folders, tmp_path):
    """The script itself, as a user runs it; our format round trip is bit-exact."""
    _, folder = hf_folders["divided_space_time"]
    out = tmp_path / "ours.pth"
    cmd = [sys.executable, str(ROOT / "tools" / "convert_checkpoint.py"), str(folder), str(out), "--to", "timesformer"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout
    a, b = read_source(str(folder)).state_dict, read_source(str(out)).state_dict
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def timm_vit(tmp_path_factory):
    """A tiny timm ViT with a 1000-class head, weights perturbed so that nothing is trivially zero."""
    torch.manual_seed(3)
    vit = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=1000, **VIT).eval()
    with torch.no_grad():
        for p in vit.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    path = tmp_path_factory.mktemp("vit") / "vit.pth"
    torch.save(vit.state_dict(), path)
    return vit, path


def _same_frames_logits(model: torch.nn.Module, img: torch.Tensor) -> torch.Tensor:
    clip = img[:, :, None].expand(-1, -1, 4, -1, -1)  # (B, C, T, H, W), every frame the same image
    with torch.no_grad():
        return model.eval()(clip)


@pytest.mark.parametrize("scheme", ["space_only", "divided_space_time"])
def test_timm_vit_reproduces_its_logits(timm_vit, scheme):
    vit, path = timm_vit
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = vit(img)
    model = TimeSformer(num_frames=4, num_classes=1000, attention_type=scheme, pretrained_model=str(path), **VIT)
    torch.testing.assert_close(_same_frames_logits(model, img), expected, atol=1e-5, rtol=0)
    report = load_pretrained(model, str(path))
    assert report.layout == "image_vit" and not report.unexpected
    if scheme == "divided_space_time":
        assert report.initialised_from["blocks.1.temporal_attn.qkv.weight"] == "blocks.1.attn.qkv.weight"
        assert torch.count_nonzero(model.model.blocks[0].temporal_fc.weight) == 0
        assert set(report.missing) == {"time_embed"} | {f"blocks.{i}.temporal_fc.{p}" for i in (0, 1)
                                                         for p in ("weight", "bias")}


def _to_google_npz(vit, path: Path) -> None:
    """Write a timm ViT in the layout of Google's original ViT .npz files (JAX/Flax names)."""
    sd = {k: v.detach().numpy() for k, v in vit.state_dict().items()}
    d, h = vit.embed_dim, vit.blocks[0].attn.num_heads
    w = {"embedding/kernel": sd["patch_embed.proj.weight"].transpose(2, 3, 1, 0),
         "embedding/bias": sd["patch_embed.proj.bias"], "cls": sd["cls_token"],
         "Transformer/posembed_input/pos_embedding": sd["pos_embed"],
         "Transformer/encoder_norm/scale": sd["norm.weight"], "Transformer/encoder_norm/bias": sd["norm.bias"],
         "head/kernel": sd["head.weight"].T, "head/bias": sd["head.bias"]}
    for i in range(len(vit.blocks)):
        b, p = f"blocks.{i}.", f"Transformer/encoderblock_{i}/"
        qkv_w, qkv_b = sd[b + "attn.qkv.weight"].reshape(3, d, d), sd[b + "attn.qkv.bias"].reshape(3, d)
        for j, n in enumerate(("query", "key", "value")):
            w[f"{p}MultiHeadDotProductAttention_1/{n}/kernel"] = qkv_w[j].T.reshape(d, h, d // h)
            w[f"{p}MultiHeadDotProductAttention_1/{n}/bias"] = qkv_b[j].reshape(h, d // h)
        w[f"{p}MultiHeadDotProductAttention_1/out/kernel"] = sd[b + "attn.proj.weight"].T.reshape(h, d // h, d)
        w[f"{p}MultiHeadDotProductAttention_1/out/bias"] = sd[b + "attn.proj.bias"]
        for ln, name in (("LayerNorm_0", "norm1"), ("LayerNorm_2", "norm2")):
            w[f"{p}{ln}/scale"], w[f"{p}{ln}/bias"] = sd[b + name + ".weight"], sd[b + name + ".bias"]
        for r in range(2):
            w[f"{p}MlpBlock_3/Dense_{r}/kernel"] = sd[b + f"mlp.fc{r + 1}.weight"].T
            w[f"{p}MlpBlock_3/Dense_{r}/bias"] = sd[b + f"mlp.fc{r + 1}.bias"]
    np.savez(path, **w)


def test_google_npz_vit(timm_vit, tmp_path):
    vit, _ = timm_vit
    npz = tmp_path / "ViT-tiny.npz"
    _to_google_npz(vit, npz)
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = vit(img)
    model = from_pretrained(str(npz), attention_type="divided_space_time", num_frames=4)
    assert model.model.num_classes == 1000 and model.model.blocks[0].attn.num_heads == 2
    torch.testing.assert_close(_same_frames_logits(model, img), expected, atol=1e-5, rtol=0)
    member = damage_data(npz)
    with pytest.raises(ValueError, match=re.escape(f"{npz}: damaged: the bytes of {member}")):
        from_pretrained(str(npz), attention_type="divided_space_time", num_frames=4)


def test_timm_model_name_through_timms_pretrained_machinery(timm_vit):
    """A timm name goes through timm.create_model(pretrained=True); the weights file is local here."""
    from timesformer.checkpoint.hub import read_timm

    vit, path = timm_vit
    w = read_timm("vit_base_patch16_224.orig_in21k_ft_in1k", pretrained_cfg_overlay=dict(file=str(path)), **VIT)
    assert w.layout == "timm" and w.meta["num_heads"] == 2
    assert all(torch.equal(w.state_dict[k], v) for k, v in vit.state_dict().items())
    with pytest.raises(RuntimeError, match="could not get the pretrained weights"):
        read_timm("vit_base_patch16_224.augreg_in21k", pretrained_cfg_overlay=dict(file=str(path) + ".gone"), **VIT)


def test_safetensors_vit_and_hf_folder_with_pytorch_model_bin(timm_vit, hf_folders, tmp_path):
    from safetensors.torch import load_file, save_file

    vit, _ = timm_vit
    save_file(vit.state_dict(), tmp_path / "vit.safetensors")
    model = TimeSformer(num_frames=4, num_classes=1000, attention_type="space_only",
                        pretrained_model=str(tmp_path / "vit.safetensors"), **VIT)
    img = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(_same_frames_logits(model, img), vit(img), atol=1e-5, rtol=0)

    _, folder = hf_folders["joint_space_time"]
    bin_folder = tmp_path / "bin"
    bin_folder.mkdir()
    (bin_folder / "config.json").write_text((folder / "config.json").read_text())
    torch.save(load_file(folder / "model.safetensors"), bin_folder / "pytorch_model.bin")
    a, b = read_source(str(folder)).state_dict, read_source(str(bin_folder)).state_dict
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _old_hf_vit_names(sd: dict) -> dict:
    """transformers 5 ViT keys -> the names the hub's files (e.g. google/vit-base-patch16-224) carry."""
    out = {}
    for k, v in sd.items():
        if ".attention.o_proj." in k:
            k = k.replace(".attention.o_proj.", ".attention.output.dense.")
        for a, b in (("q_proj", "query"), ("k_proj", "key"), ("v_proj", "value")):
            k = k.replace(f".attention.{a}.", f".attention.attention.{b}.")
        k = k.replace(".mlp.fc1.", ".intermediate.dense.").replace(".mlp.fc2.", ".output.dense.")
        out[k.replace("vit.layers.", "vit.encoder.layer.")] = v
    return out


def test_hugging_face_image_vit_and_timm_hub_folders(tmp_path, timm_vit):
    from safetensors.torch import load_file, save_file
    from timm.models._hub import save_for_hf
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=128, num_labels=3)
    torch.manual_seed(4)
    hf_vit = ViTForImageClassification(config).eval()
    hf_vit.save_pretrained(tmp_path / "new")
    img = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        expected = hf_vit(pixel_values=img).logits
    old = tmp_path / "old"  # the same weights under the hub's older names
    old.mkdir()
    (old / "config.json").write_text((tmp_path / "new" / "config.json").read_text())
    save_file(_old_hf_vit_names(load_file(tmp_path / "new" / "model.safetensors")), old / "model.safetensors")
    for folder, scheme in ((tmp_path / "new", "divided_space_time"), (old, "space_only")):
        model = from_pretrained(str(folder), attention_type=scheme, num_frames=4)
        assert model.model.blocks[0].norm1.eps == 1e-12  # transformers ViT's own eps, from config.json
        torch.testing.assert_close(_same_frames_logits(model, img), expected, atol=1e-5, rtol=0)

    vit, _ = timm_vit
    save_for_hf(vit, str(tmp_path / "timm"), model_args=dict(num_classes=1000, **VIT))
    model = from_pretrained(str(tmp_path / "timm"))
    assert model.attention_type == "space_only" and model.model.blocks[0].attn.num_heads == 2
    with torch.no_grad():
        torch.testing.assert_close(_same_frames_logits(model, img), vit(img), atol=1e-5, rtol=0)
