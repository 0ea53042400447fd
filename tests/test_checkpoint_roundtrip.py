"""Round trips through tools/convert_checkpoint.py: tensors bit-identical, and the config, class
names, input channel order, heads and frame count (also for space_only, which has no time_embed to count) survive."""
import json

import pytest
import torch

from tests.checkpoints import randomise, write_hf_timesformer
from tests.conftest import load_tool
from timesformer.checkpoint import Weights, read_source
from timesformer.config import get_cfg
from timesformer.inference import load_predictor
from timesformer.models import SCHEMES, build_model, from_pretrained

NAMES = [f"class {i}" for i in range(5)]
HF_SCHEMES = ("space_only", "joint_space_time", "divided_space_time")


def _training_checkpoint(path, scheme: str, num_frames: int = 4) -> str:
    """What the trainer writes (``model.`` keys, the config YAML), plus class names."""
    cfg = get_cfg()
    cfg.merge_from_list(["MODEL.EMBED_DIM", 32, "MODEL.DEPTH", 2, "MODEL.NUM_HEADS", 2, "MODEL.PATCH_SIZE", 8,
                         "MODEL.NUM_CLASSES", 5, "DATA.TRAIN_CROP_SIZE", 32, "DATA.TEST_CROP_SIZE", 32,
                         "DATA.NUM_FRAMES", num_frames, "DATA.SAMPLING_RATE", 4,
                         "TIMESFORMER.ATTENTION_TYPE", scheme])
    model = build_model(cfg)
    randomise(model, ("time_embed", "_fc."))
    torch.save({"model": model.state_dict(), "cfg": cfg.dump(), "epoch": 3, "class_names": NAMES}, path)
    return str(path)


def _assert_same(a: Weights, b: Weights) -> None:
    """Same keys, dtypes and bits; same config, class names, heads and frames."""
    assert a.state_dict.keys() == b.state_dict.keys()
    for k, v in a.state_dict.items():
        assert b.state_dict[k].dtype == v.dtype and torch.equal(b.state_dict[k], v), k
    assert (b.cfg, b.class_names, b.channel_order) == (a.cfg, a.class_names, a.channel_order)
    ka, kb = a.model_kwargs(), b.model_kwargs()
    assert (kb["num_heads"], kb["num_frames"], kb["attention_type"]) == (ka["num_heads"], ka["num_frames"],
                                                                          ka["attention_type"])


@pytest.mark.parametrize("scheme", HF_SCHEMES)
def test_timesformer_to_hf_and_back(tmp_path, scheme):
    convert = load_tool("convert_checkpoint").main
    src = _training_checkpoint(tmp_path / "run.pyth", scheme)
    assert convert([src, str(tmp_path / "hf"), "--to", "hf"]) == 0
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert (config["num_attention_heads"], config["num_frames"], config["id2label"]["4"]) == (2, 4, "class 4")
    from transformers import TimesformerConfig

    assert TimesformerConfig.from_pretrained(tmp_path / "hf").attention_type == scheme  # our extra key is fine
    assert convert([str(tmp_path / "hf"), str(tmp_path / "back.pth"), "--to", "timesformer"]) == 0
    original, back = read_source(src), read_source(str(tmp_path / "back.pth"))
    assert original.cfg and original.class_names == NAMES
    _assert_same(original, back)
    assert all(k.startswith("model.") for k in torch.load(tmp_path / "back.pth", weights_only=True)["model"])


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_pyth_to_timesformer_and_back(tmp_path, scheme):
    convert = load_tool("convert_checkpoint").main
    ours = torch.load(_training_checkpoint(tmp_path / "run.pth", scheme), weights_only=True)
    reference_yaml = (f"TRAIN:\n  DATASET: kinetics\n  BATCH_SIZE: 8\nMODEL:\n  NUM_HEADS: 2\n  MODEL_NAME: vit\n"
                      f"TIMESFORMER:\n  ATTENTION_TYPE: {scheme}\nDATA:\n  NUM_FRAMES: 4\n  TEST_CROP_SIZE: 32\n")
    pyth = tmp_path / "released.pyth"
    torch.save({"model_state": ours["model"], "epoch": 14, "cfg": reference_yaml,
                "optimizer_state": {"state": {}, "param_groups": []}}, pyth)
    assert convert([str(pyth), str(tmp_path / "ours.pth"), "--to", "timesformer"]) == 0
    assert convert([str(tmp_path / "ours.pth"), str(tmp_path / "back.pyth"), "--to", "pyth"]) == 0
    original, back = read_source(str(pyth)), read_source(str(tmp_path / "back.pyth"))
    assert original.cfg == reference_yaml and back.layout == "pyth"
    _assert_same(original, back)
    raw = torch.load(tmp_path / "back.pyth", weights_only=True)
    assert raw["model_state"].keys() == ours["model"].keys()


def test_space_only_frame_count_comes_from_the_config_not_a_default(tmp_path):
    """A 16-frame space_only model has no time_embed: its frames come from the stored config YAML or
    config.json, through every layout, from_pretrained and predict's protocol."""
    src = _training_checkpoint(tmp_path / "run.pyth", "space_only", num_frames=16)
    assert from_pretrained(src).model.num_frames == 16
    assert load_tool("convert_checkpoint").main([src, str(tmp_path / "hf"), "--to", "hf"]) == 0
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["num_frames"] == 16
    assert from_pretrained(str(tmp_path / "hf")).model.num_frames == 16
    assert load_predictor(src, device="cpu").cfg.DATA.NUM_FRAMES == 16

    write_hf_timesformer(tmp_path / "transformers", "space_only", num_frames=16)  # no time_embeddings saved
    assert "time_embed" not in read_source(str(tmp_path / "transformers")).state_dict
    assert from_pretrained(str(tmp_path / "transformers")).model.num_frames == 16
