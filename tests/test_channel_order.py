"""DATA.INPUT_CHANNEL_ORDER: the released SSv2 models saw BGR frames, everything else RGB.

A real red video (R 220, G 40, B 90) goes through the loader, predict, visualize and run_net; what
reaches the model's patch embedding is read back (a forward pre-hook on every module records it)
and un-normalised, so channel 0 tells which order the model got. Checkpoints are real files in the
reference's ``.pyth`` layout, ours, and Hugging Face folders written by transformers.
"""
import json
import os
from pathlib import Path
from typing import List

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from tests.conftest import QUICKSTART, load_tool, tiny_opts
from tests.videos import write_video
from timesformer.checkpoint import read_source
from timesformer.config import ConfigError, get_cfg, load_config
from timesformer.data import build_loader
from timesformer.data.transforms import to_channel_order
from timesformer.models import TimeSformer, load_pretrained
from timesformer.models.vit import PatchEmbed

convert_checkpoint, export, predict, run_net, visualize_attention = (
    load_tool(name) for name in ("convert_checkpoint", "export", "predict", "run_net", "visualize_attention"))

RED = (220, 40, 90)  # R, G, B of every pixel of the test video
TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=2, num_frames=4)
# The stored config of a reference .pyth: the authors' fvcore dump (MODEL.ARCH vit), cut down; the tiny
# model's head count stated (the authors' ViT-B is a preset width, 768: 12 heads; 32 is no preset's).
REFERENCE_CFG = """DATA:
  INPUT_CHANNEL_NUM: [3]
  MEAN: [0.45, 0.45, 0.45]
  NUM_FRAMES: 4
  REVERSE_INPUT_CHANNEL: {reverse}
  STD: [0.225, 0.225, 0.225]
  TEST_CROP_SIZE: 32
  TRAIN_CROP_SIZE: 32
  TRAIN_JITTER_SCALES: [32, 40]
MODEL:
  ARCH: vit
  MODEL_NAME: vit_base_patch16_224
  NUM_CLASSES: {classes}
  NUM_HEADS: 2
TEST:
  DATASET: {dataset}
  NUM_SPATIAL_CROPS: 3
TRAIN:
  DATASET: {dataset}
"""


def reference_pyth(path: Path, dataset: str = "ssv2", classes: int = 174) -> Path:
    """A checkpoint laid out as the authors' released ones (model_state, epoch, optimizer, cfg)."""
    model = TimeSformer(num_classes=classes, **TINY)
    cfg = REFERENCE_CFG.format(dataset=dataset, classes=classes, reverse=dataset == "ssv2")
    torch.save({"model_state": model.state_dict(), "epoch": 15, "optimizer_state": {}, "cfg": cfg}, path)
    return path


def our_checkpoint(path: Path, *opts) -> Path:
    """A training checkpoint as our engine writes it (model state and the run's cfg)."""
    from timesformer.models import build_model

    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.EMBED_DIM", 32, "MODEL.DEPTH", 1, "MODEL.NUM_HEADS", 2, "MODEL.PATCH_SIZE", 8,
                         "DATA.TRAIN_CROP_SIZE", 32, "DATA.TEST_CROP_SIZE", 32, "DATA.NUM_FRAMES", 4,
                         "DATA.SAMPLING_RATE", 2, "DATA.TRAIN_JITTER_SCALES", [32, 40], "MODEL.NUM_CLASSES", 5,
                         *opts])
    torch.save({"model": build_model(cfg).state_dict(), "cfg": cfg.dump(), "epoch": 1}, path)
    return path


@pytest.fixture(scope="module")
def red_video(tmp_path_factory) -> Path:
    frames = np.empty((24, 48, 64, 3), np.uint8)
    frames[:] = RED
    return write_video(tmp_path_factory.mktemp("red") / "red.mp4", frames=frames, fps=30)


@pytest.fixture
def model_inputs():
    """Every clip (B, C, T, H, W) that reaches a patch embedding while the test runs."""
    seen: List[torch.Tensor] = []

    def hook(module, args):
        if isinstance(module, PatchEmbed):
            seen.append(args[0].detach().float().cpu())

    handle = torch.nn.modules.module.register_module_forward_pre_hook(hook)
    yield seen
    handle.remove()


def channel_means(x: torch.Tensor) -> List[float]:
    """Mean pixel value (0-255) of each channel of normalised input (default mean 0.45, std 0.225)."""
    return [round(float(v), 1) for v in ((x * 0.225 + 0.45) * 255).transpose(0, 1).flatten(1).mean(dim=1)]


def assert_order(x: torch.Tensor, order: str) -> None:
    first, _, last = channel_means(x)
    red, blue = (first, last) if order == "rgb" else (last, first)
    assert abs(red - RED[0]) < 15 and abs(blue - RED[2]) < 15, (order, channel_means(x))


# ----------------------------------------------------------------------------- config and loader
def test_the_key_its_values_and_the_flip():
    assert get_cfg().DATA.INPUT_CHANNEL_ORDER == "rgb"
    frames = torch.arange(3)[:, None].expand(3, 4)  # (C, T)
    assert to_channel_order(frames, "rgb").tolist() == frames.tolist()
    assert to_channel_order(frames, "bgr")[:, 0].tolist() == [2, 1, 0]
    with pytest.raises(ConfigError, match="DATA.INPUT_CHANNEL_ORDER = 'BGR'.*'rgb' or 'bgr'"):
        load_config(None, ["DATA.INPUT_CHANNEL_ORDER", "BGR"])


@pytest.mark.parametrize("order", ["rgb", "bgr"])
def test_loader_feeds_the_configured_order(tmp_path, red_video, order):
    for split in ("train", "test"):
        (tmp_path / f"{split}.csv").write_text(f"{red_video.name} 0\n{red_video.name} 1\n")
    cfg = load_config(None, ["TRAIN.DATASET", "kinetics", "TEST.DATASET", "kinetics", "DATA.PATH_TO_DATA_DIR",
                             str(tmp_path), "DATA.PATH_PREFIX", str(red_video.parent), "DATA.NUM_FRAMES", "4",
                             "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
                             "DATA.TRAIN_JITTER_SCALES", "[32, 40]", "DATA_LOADER.NUM_WORKERS", "0",
                             "TRAIN.BATCH_SIZE", "2", "TEST.BATCH_SIZE", "2", "MODEL.NUM_CLASSES", "2",
                             "DATA.INPUT_CHANNEL_ORDER", order])
    for split in ("train", "test"):
        frames = next(iter(build_loader(cfg, split)))["frames"]  # (B, C, T, H, W) uint8
        means = frames.transpose(0, 1).flatten(1).float().mean(dim=1).tolist()
        red, blue = (means[0], means[2]) if order == "rgb" else (means[2], means[0])
        assert abs(red - RED[0]) < 15 and abs(blue - RED[2]) < 15, (split, order, means)


# ----------------------------------------------------------------------------- checkpoints
def test_reference_ssv2_pyth_is_bgr_and_the_load_report_says_so(tmp_path, caplog):
    ssv2 = reference_pyth(tmp_path / "TimeSformer_divST_8_224_SSv2.pyth")
    assert read_source(str(ssv2)).channel_order == "bgr"
    model = TimeSformer(num_classes=174, **TINY)
    with caplog.at_level("INFO", logger="timesformer.models.pretrained"):
        report = load_pretrained(model, str(ssv2))
    assert report.channel_order == "bgr"
    assert "input channel order: bgr (reference SSv2 checkpoint" in report.summary()
    assert "input channel order: bgr" in caplog.text
    k400 = reference_pyth(tmp_path / "TimeSformer_divST_8x32_224_K400.pyth", "kinetics", 400)
    assert read_source(str(k400)).channel_order == "rgb"
    assert "input channel order: rgb" in load_pretrained(TimeSformer(num_classes=400, **TINY), str(k400)).summary()


def test_our_checkpoints_record_the_order_and_image_vits_state_none(tmp_path):
    bgr = our_checkpoint(tmp_path / "a.pyth", "DATA.INPUT_CHANNEL_ORDER", "bgr")  # a run that fed BGR
    assert read_source(str(bgr)).channel_order == "bgr"
    assert read_source(str(our_checkpoint(tmp_path / "b.pyth"))).channel_order == "rgb"
    # A checkpoint of ours from before the key (its cfg lacks it): this library always fed RGB.
    old = torch.load(our_checkpoint(tmp_path / "c.pyth"), weights_only=True)
    old["cfg"] = old["cfg"].replace("\n  INPUT_CHANNEL_ORDER: rgb", "")
    assert "INPUT_CHANNEL_ORDER" not in old["cfg"]
    torch.save(old, tmp_path / "old.pyth")
    assert read_source(str(tmp_path / "old.pyth")).channel_order == "rgb"
    old["input_channel_order"] = "brg"
    torch.save(old, tmp_path / "typo.pyth")
    with pytest.raises(ValueError, match=r"typo.pyth: input_channel_order: input channel order 'brg'; expected one"):
        read_source(str(tmp_path / "typo.pyth"))
    vit = TimeSformer(num_classes=5, attention_type="space_only", **TINY).model.state_dict()
    vit.pop("time_embed", None)
    torch.save(vit, tmp_path / "vit.pth")
    assert read_source(str(tmp_path / "vit.pth")).channel_order is None
    report = load_pretrained(TimeSformer(num_classes=5, **TINY), str(tmp_path / "vit.pth"))
    assert "channel order" not in report.summary()


def test_hf_ssv2_port_is_bgr_and_conversions_keep_the_order(tmp_path):
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    hf_cfg = TimesformerConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=128, num_frames=4, num_labels=174)
    TimesformerForVideoClassification(hf_cfg).save_pretrained(tmp_path / "port_ssv2")
    hf_cfg.id2label = {i: f"c{i}" for i in range(400)}
    hf_cfg.label2id = {f"c{i}": i for i in range(400)}
    TimesformerForVideoClassification(hf_cfg).save_pretrained(tmp_path / "port_k400")
    assert read_source(str(tmp_path / "port_ssv2")).channel_order == "bgr"
    assert read_source(str(tmp_path / "port_k400")).channel_order == "rgb"

    ssv2 = reference_pyth(tmp_path / "ssv2.pyth")
    assert convert_checkpoint.main([str(ssv2), str(tmp_path / "hf"), "--to", "hf", "--num-heads", "2"]) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["input_channel_order"] == "bgr"
    assert convert_checkpoint.main([str(tmp_path / "hf"), str(tmp_path / "ours.pth"), "--to", "timesformer"]) == 0
    assert torch.load(tmp_path / "ours.pth", weights_only=True)["input_channel_order"] == "bgr"
    for path in (tmp_path / "hf", tmp_path / "ours.pth"):
        assert read_source(str(path)).channel_order == "bgr"


# ----------------------------------------------------------------------------- tools
def test_predict_feeds_bgr_to_a_reference_ssv2_model_unless_told_otherwise(tmp_path, red_video, model_inputs,
                                                                            capsys):
    ssv2 = reference_pyth(tmp_path / "ssv2.pyth")
    assert predict.main([str(red_video), "--weights", str(ssv2), "--device", "cpu"]) == 0
    assert model_inputs and all(assert_order(x, "bgr") is None for x in model_inputs)
    model_inputs.clear()
    assert predict.main([str(red_video), "--weights", str(ssv2), "--device", "cpu",
                         "--opts", "DATA.INPUT_CHANNEL_ORDER", "rgb"]) == 0  # the command line wins
    assert model_inputs and all(assert_order(x, "rgb") is None for x in model_inputs)
    model_inputs.clear()
    assert predict.main([str(red_video), "--weights", str(our_checkpoint(tmp_path / "ours.pyth")),
                         "--device", "cpu"]) == 0
    assert model_inputs and all(assert_order(x, "rgb") is None for x in model_inputs)
    capsys.readouterr()


def test_predict_with_a_config_file_that_states_the_order(tmp_path, red_video, model_inputs, capsys):
    ssv2 = reference_pyth(tmp_path / "ssv2.pyth")
    base = tmp_path / "base.yaml"
    base.write_text("DATA:\n  INPUT_CHANNEL_ORDER: rgb\n")
    child, silent = tmp_path / "child.yaml", tmp_path / "silent.yaml"
    common = ("MODEL:\n  NUM_CLASSES: 174\n  EMBED_DIM: 32\n  DEPTH: 1\n  NUM_HEADS: 2\n  PATCH_SIZE: 8\n"
              "DATA:\n  NUM_FRAMES: 4\n  TRAIN_CROP_SIZE: 32\n  TEST_CROP_SIZE: 32\n  SAMPLING_RATE: 2\n"
              "  TRAIN_JITTER_SCALES: [32, 40]\n")
    child.write_text(f"_BASE_: base.yaml\n{common}")
    silent.write_text(common)
    assert predict.main([str(red_video), "--weights", str(ssv2), "--cfg", str(child), "--device", "cpu"]) == 0
    assert model_inputs and all(assert_order(x, "rgb") is None for x in model_inputs)  # stated in _BASE_
    model_inputs.clear()
    assert predict.main([str(red_video), "--weights", str(ssv2), "--cfg", str(silent), "--device", "cpu"]) == 0
    assert model_inputs and all(assert_order(x, "bgr") is None for x in model_inputs)  # not stated
    capsys.readouterr()


def test_visualize_feeds_bgr_but_draws_the_real_colours(tmp_path, red_video, model_inputs, capsys):
    ssv2 = reference_pyth(tmp_path / "ssv2.pyth")
    assert visualize_attention.main([str(red_video), "--weights", str(ssv2), "--out", str(tmp_path / "vis"),
                                     "--device", "cpu"]) == 0
    assert len(model_inputs) == 1
    assert_order(model_inputs[0], "bgr")
    with Image.open(tmp_path / "vis" / "red_attention.png") as png:
        pixels = np.asarray(png.convert("RGB")).reshape(-1, 3).astype(int)
    near = lambda colour: int((np.abs(pixels - colour).max(axis=1) < 15).sum())  # noqa: E731
    assert near(RED) >= 4 * 128 * 128 and near(RED[::-1]) == 0  # the 4 frames (drawn at 128 px) in RGB
    capsys.readouterr()


def test_export_states_the_order_in_the_onnx_metadata(tmp_path, capsys):
    ssv2 = reference_pyth(tmp_path / "ssv2.pyth")
    assert export.main(["--weights", str(ssv2), "--out", str(tmp_path / "m.onnx")]) == 0
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    assert meta["channel_order"] == "bgr" and "BGR" in meta["input"]
    capsys.readouterr()


# ----------------------------------------------------------------------------- run_net
def ssv2_test_opts(tmp_path, red_video) -> list:
    """Overrides of a test-only run of a reference SSv2 checkpoint on the red video (output: tmp_path/out)."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "test.csv").write_text(f"{red_video.name} 0\n")
    ssv2 = reference_pyth(tmp_path / "ssv2.pyth")
    return tiny_opts(str(tmp_path / "data"), str(tmp_path / "out"), **{
        "TRAIN.ENABLE": False, "TEST.DATASET": "kinetics", "DATA.PATH_PREFIX": str(red_video.parent),
        "TEST.CHECKPOINT_FILE_PATH": str(ssv2), "MODEL.NUM_CLASSES": 174, "MODEL.DEPTH": 1, "MODEL.MLP_RATIO": 4.0,
        "DATA.SAMPLING_RATE": 2, "NUM_GPUS": 0, "TEST.NUM_SPATIAL_CROPS": 1})


def test_run_net_tests_a_reference_ssv2_checkpoint_on_bgr_frames(tmp_path, red_video, model_inputs, capsys):
    opts = ssv2_test_opts(tmp_path, red_video)
    assert run_net.main(["--cfg", QUICKSTART, *opts]) == 0
    assert model_inputs and all(assert_order(x, "bgr") is None for x in model_inputs)
    saved = load_config(str(tmp_path / "out" / "config.yaml"))
    assert saved.DATA.INPUT_CHANNEL_ORDER == "bgr"
    model_inputs.clear()
    capsys.readouterr()
    out2 = str(tmp_path / "out2")
    assert run_net.main(["--cfg", QUICKSTART, *opts, "OUTPUT_DIR", out2, "DATA.INPUT_CHANNEL_ORDER", "rgb"]) == 0
    assert model_inputs and all(assert_order(x, "rgb") is None for x in model_inputs)
    logged = "".join(capsys.readouterr())
    assert "DATA.INPUT_CHANNEL_ORDER = rgb as your config states, although" in logged and "expects bgr" in logged
    assert load_config(os.path.join(out2, "config.yaml")).DATA.INPUT_CHANNEL_ORDER == "rgb"


def test_fine_tuning_from_an_image_vit_stays_rgb(tmp_path):
    from timesformer.engine.resume import settle_channel_order

    vit = TimeSformer(num_classes=5, attention_type="space_only", **TINY).model.state_dict()
    torch.save(vit, tmp_path / "vit.pth")
    cfg = load_config(QUICKSTART, tiny_opts(str(tmp_path), str(tmp_path / "out"),
                                            **{"TIMESFORMER.PRETRAINED_MODEL": str(tmp_path / "vit.pth")}))
    assert settle_channel_order(cfg, stated=False).DATA.INPUT_CHANNEL_ORDER == "rgb"
    ssv2 = reference_pyth(tmp_path / "ssv2.pyth")
    cfg = load_config(QUICKSTART, tiny_opts(str(tmp_path), str(tmp_path / "out"), **{
        "TRAIN.CHECKPOINT_FILE_PATH": str(ssv2), "TRAIN.FINETUNE": True}))
    assert settle_channel_order(cfg, stated=False).DATA.INPUT_CHANNEL_ORDER == "bgr"  # fine-tuning SSv2 weights
    assert settle_channel_order(cfg, stated=True).DATA.INPUT_CHANNEL_ORDER == "rgb"


def test_a_submitted_job_tests_a_reference_ssv2_checkpoint_on_bgr_frames(tmp_path, red_video, model_inputs):
    """submit.py's job starts a run as run_net does (the starting weights decide the channel order)."""
    opts = ssv2_test_opts(tmp_path, red_video)
    assert load_tool("submit").main(["--cfg", QUICKSTART, "--cluster", "debug", *opts]) == 0
    assert model_inputs and all(assert_order(x, "bgr") is None for x in model_inputs)
    assert load_config(str(tmp_path / "out" / "config.yaml")).DATA.INPUT_CHANNEL_ORDER == "bgr"
