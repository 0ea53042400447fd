"""Key renaming, layout detection, architecture inference, resampling and the load errors."""

import pytest
import torch

from timesformer.checkpoint import hf_to_vit, infer_architecture, vit_to_hf
from timesformer.checkpoint.convert import attention_type_of
from timesformer.config import ConfigError, load_config
from timesformer.engine import check_config
from timesformer.errors import HeadsUnknownError
from timesformer.models import SCHEMES, TimeSformer, from_pretrained, load_pretrained

TINY_VIT = dict(patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _tiny(scheme: str = "divided_space_time", **kw) -> TimeSformer:
    args = dict(img_size=32, num_frames=4, num_classes=5, attention_type=scheme, **TINY_VIT)
    args.update(kw)
    model = TimeSformer(**args).eval()
    with torch.no_grad():  # non-zero time_embed and *_fc, so that they matter in comparisons
        for n, p in model.named_parameters():
            if "time_embed" in n or "_fc." in n:
                p.normal_(0, 0.05)
    return model


def _reference_pyth(model: TimeSformer, path, cfg_yaml: str) -> None:
    """A file laid out like the authors' released .pyth checkpoints."""
    torch.save({"model_state": model.state_dict(), "epoch": 14, "cfg": cfg_yaml,
                "optimizer_state": {"state": {}, "param_groups": []}}, path)


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_architecture_is_read_off_the_keys(scheme):
    model = _tiny(scheme)
    arch = infer_architecture(model.model.state_dict())
    assert attention_type_of(model.model.state_dict()) == scheme
    assert {k: arch[k] for k in ("img_size", "patch_size", "embed_dim", "depth", "num_classes")} == dict(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_classes=5)
    assert arch.get("num_frames", 4) == 4 and arch["mlp_ratio"] == 4.0


def test_hf_names_are_a_bijection():
    sd = _tiny().model.state_dict()
    hf = vit_to_hf(sd)
    assert "timesformer.encoder.layer.1.temporal_attention.attention.qkv.weight" in hf
    assert "classifier.weight" in hf and "timesformer.embeddings.time_embeddings" in hf
    back = hf_to_vit(hf)
    assert back.keys() == sd.keys() and all(back[k] is sd[k] for k in sd)
    with pytest.raises(ValueError, match="width_"):
        vit_to_hf(_tiny("axial").model.state_dict())
    with pytest.raises(ValueError, match="timesformer.encoder.layer.0.bogus"):
        hf_to_vit({"timesformer.encoder.layer.0.bogus.weight": torch.zeros(1)})


def test_reference_pyth_with_more_frames_and_larger_crop(tmp_path):
    """A released-style .pyth into a model with other T and crop: time_embed 1-D, pos_embed 2-D,
    the same numbers the source model computes for that input at runtime."""
    src = _tiny()
    path = tmp_path / "TimeSformer_divST_4x32_32_reference.pyth"
    _reference_pyth(src, path, "MODEL:\n  ARCH: vit\n  NUM_CLASSES: 5\nDATA:\n  NUM_FRAMES: 4\n")
    with pytest.raises(HeadsUnknownError, match="width 32 is no preset's"):  # never a guessed head count
        from_pretrained(str(path))
    model = from_pretrained(str(path), num_heads=2, num_frames=8, img_size=64).eval()
    report = load_pretrained(model, str(path))
    assert set(report.resampled) == {"pos_embed", "time_embed"} and report.layout == "pyth"
    assert model.model.time_embed.shape == (1, 8, 32) and model.model.pos_embed.shape == (1, 65, 32)
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), src(x), atol=1e-5, rtol=0)


def test_head_dropped_when_classes_differ_and_prefixes_stripped(tmp_path):
    src = _tiny()
    path = tmp_path / "ddp.pth"
    torch.save({f"module.{k}": v for k, v in src.state_dict().items()}, path)  # a DDP-wrapped state dict
    model = _tiny(num_classes=7)
    head_before = model.model.head.weight.clone()
    report = load_pretrained(model, str(path))
    assert set(report.missing) == {"head.weight", "head.bias"}
    assert "source has 5 classes, model 7" in report.missing["head.weight"]
    assert torch.equal(model.model.head.weight, head_before)
    with pytest.raises(ValueError, match="head.weight: dropped: source has 5 classes"):
        load_pretrained(_tiny(num_classes=7), str(path), strict=True)  # evaluation: no random head
    assert not load_pretrained(_tiny(), str(path), strict=True).missing
    assert torch.equal(model.model.blocks[1].temporal_fc.weight, src.model.blocks[1].temporal_fc.weight)


def test_loads_into_a_bare_vision_transformer_and_from_our_training_checkpoint(tmp_path):
    src = _tiny()
    path = tmp_path / "checkpoint_epoch_00003_iter_000000012.pyth"
    torch.save({"model": src.state_dict(), "optimizer": {}, "epoch": 3, "iteration": 12,
                "cfg": "MODEL:\n  NUM_HEADS: 2\n  EMBED_DIM: 32\n"}, path)
    bare = _tiny().model
    report = load_pretrained(bare, str(path))
    assert report.layout == "timesformer" and not report.missing and not report.unexpected
    model = from_pretrained(str(path)).eval()  # heads from the stored cfg, no guess
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), src(x))


def test_unreconcilable_and_missing_weights_are_errors(tmp_path):
    src = _tiny()
    wide = tmp_path / "wide.pth"
    torch.save(_tiny(embed_dim=64).state_dict(), wide)
    with pytest.raises(ValueError, match=r"blocks\.0\.norm1\.weight: source shape \(64,\), model \(32,\)"):
        load_pretrained(_tiny(), str(wide))
    shallow = tmp_path / "shallow.pth"
    torch.save(src.state_dict(), shallow)
    with pytest.raises(ValueError, match=r"blocks\.2\.mlp\.fc1\.weight: not in the source"):
        load_pretrained(_tiny(depth=3), str(shallow))
    extra = dict(src.model.state_dict(), **{"fc_norm.weight": torch.ones(32), "fc_norm.bias": torch.zeros(32)})
    torch.save(extra, tmp_path / "gap.pth")
    with pytest.raises(ValueError, match="fc_norm"):
        load_pretrained(_tiny(), str(tmp_path / "gap.pth"))


def test_a_trained_step_without_its_fc_is_an_error_a_new_step_gets_a_zero_fc(tmp_path):
    """A divided checkpoint lacking temporal_fc would run with its trained temporal step switched
    off; a step the source does not have at all (image ViT, or divided -> axial's width step) starts
    from the ViT's attn with a zero *_fc."""
    src = _tiny().model.state_dict()
    cut = {k: v for k, v in src.items() if not k.startswith("blocks.1.temporal_fc.")}
    torch.save(cut, tmp_path / "no_fc.pth")
    with pytest.raises(ValueError) as e:
        load_pretrained(_tiny(), str(tmp_path / "no_fc.pth"))
    assert "blocks.1.temporal_fc.weight: not in the source, which has the trained blocks.1.temporal_attn" \
        in str(e.value) and "blocks.1.temporal_fc.bias" in str(e.value) and "blocks.0." not in str(e.value)

    vit = _tiny("space_only").model.state_dict()  # an image ViT's keys
    report = load_pretrained(_tiny(), _save(tmp_path / "vit.pth", vit))
    assert report.initialised_from["blocks.1.temporal_attn.qkv.weight"] == "blocks.1.attn.qkv.weight"
    assert report.missing["blocks.1.temporal_fc.weight"] == "new attention step's output projection, zero-initialised"

    axial = _tiny("axial")
    report = load_pretrained(axial, _save(tmp_path / "divided.pth", src))
    assert {k for k in report.missing if "_fc." in k} == {f"blocks.{i}.width_fc.{p}" for i in (0, 1)
                                                         for p in ("weight", "bias")}
    assert torch.equal(axial.model.blocks[1].temporal_fc.weight, src["blocks.1.temporal_fc.weight"])
    assert torch.count_nonzero(axial.model.blocks[1].width_fc.weight) == 0
    with pytest.raises(ValueError, match=r"blocks\.1\.temporal_fc\.weight: not in the source"):
        load_pretrained(_tiny("axial"), str(tmp_path / "no_fc.pth"))


def _save(path, sd) -> str:
    torch.save(sd, path)
    return str(path)


class _Payload:
    """Something a malicious checkpoint could carry: an arbitrary pickled object."""


def test_files_that_would_run_code_or_are_broken_are_refused(tmp_path):
    evil = tmp_path / "evil.pth"
    torch.save({"model_state": _tiny().state_dict(), "payload": _Payload()}, evil)
    with pytest.raises(ValueError, match=r"evil.pth was refused: it holds a pickled \S*_Payload"):
        load_pretrained(_tiny(), str(evil))
    torch.save(_tiny().state_dict(), tmp_path / "ok.pth")
    data = (tmp_path / "ok.pth").read_bytes()
    (tmp_path / "half.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="half.pth.*truncated or corrupt"):
        load_pretrained(_tiny(), str(tmp_path / "half.pth"))
    with pytest.raises(FileNotFoundError, match="nothing_here.pth: no such file"):
        load_pretrained(_tiny(), str(tmp_path / "nothing_here.pth"))
    with pytest.raises(FileNotFoundError, match="not a timm model name"):
        load_pretrained(_tiny(), "nothing_here")


def test_config_keys_are_checked(tmp_path):
    cfg = load_config(None, [])
    assert cfg.TRAIN.AUTO_RESUME is True and cfg.TRAIN.CHECKPOINT_KEEP_LAST == 3
    with pytest.raises(ConfigError, match="TRAIN.CHECKPOINT_KEEP_LAST"):
        check_config(load_config(None, ["TRAIN.CHECKPOINT_KEEP_LAST", "-1"]))
    with pytest.raises(ConfigError, match="TRAIN.FINETUNE"):
        check_config(load_config(None, ["TRAIN.FINETUNE", "True"]))
    with pytest.raises(ConfigError, match="TRAIN.CHECKPOINT_FILE_PATH"):
        check_config(load_config(None, ["TRAIN.CHECKPOINT_FILE_PATH", str(tmp_path / "missing.pyth")]))
