"""Every experiment config loads, validates, describes the paper's setting and builds its model."""
import re
from pathlib import Path

import pytest
import torch

from timesformer.config import load_config
from timesformer.data import train_batch
from timesformer.models import build_model

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
OURS = ("Kinetics", "Kinetics600", "SSv2", "Diving48", "HowTo100M", "UCF101", "HMDB51")
EXPERIMENTS = sorted(p for d in OURS for p in (CONFIGS / d).glob("*.yaml"))
NUM_CLASSES = {"Kinetics": 400, "Kinetics600": 600, "SSv2": 174, "Diving48": 48, "HowTo100M": 1059, "UCF101": 101,
               "HMDB51": 51}
# Fine-tuned from the Kinetics-400 TimeSformer rather than the ImageNet ViT.
FROM_KINETICS = ("HowTo100M", "UCF101", "HMDB51")
SCHEMES = {"divST": "divided_space_time", "spaceOnly": "space_only", "jointST": "joint_space_time",
           "localGlobal": "sparse_local_global", "axial": "axial"}
# The paper's Table 1: parameters with a 174-class head; each further class adds 768 + 1.
PARAMS_174 = {"space_only": 85.932e6, "joint_space_time": 85.939e6, "divided_space_time": 121.393e6,
              "sparse_local_global": 121.393e6, "axial": 156.847e6}
# The file names MODEL_ZOO.md and REPRODUCE.md refer to.
EXPECTED = [f"Kinetics/TimeSformer_{s}_8x32_224.yaml" for s in SCHEMES] + [
    f"{d}/TimeSformer_divST_{v}.yaml" for d in ("Kinetics", "Kinetics600", "Diving48")
    for v in ("16x16_448", "96x4_224")] + [
    f"{d}/TimeSformer_divST_8x32_224.yaml" for d in ("Kinetics600", "Diving48")] + [
    f"SSv2/TimeSformer_{s}_8_224.yaml" for s in SCHEMES] + [
    "SSv2/TimeSformer_divST_16_448.yaml", "SSv2/TimeSformer_divST_64_224.yaml"] + [
    f"HowTo100M/TimeSformer_divST_{f}x32_224.yaml" for f in (8, 32, 64, 96)] + [
    "UCF101/TimeSformer_divST_8x16_224.yaml", "HMDB51/TimeSformer_divST_8x8_224.yaml"]
TINY = ["MODEL.EMBED_DIM", "32", "MODEL.DEPTH", "1", "MODEL.NUM_HEADS", "2", "MODEL.PATCH_SIZE", "8",
        "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32", "TIMESFORMER.PRETRAINED_MODEL", ""]


def _parse(path: Path):
    """(scheme, frames, sampling rate or None, crop) from a name like TimeSformer_divST_16x16_448."""
    m = re.fullmatch(r"TimeSformer_(\w+?)_(\d+)(?:x(\d+))?_(\d+)", path.stem)
    assert m, f"{path.name} does not follow TimeSformer_<scheme>_<frames>[x<rate>]_<size>.yaml"
    scheme, frames, rate, size = m.groups()
    return SCHEMES[scheme], int(frames), int(rate) if rate else None, int(size)


def test_every_expected_config_exists():
    missing = [name for name in EXPECTED if not (CONFIGS / name).is_file()]
    assert not missing
    assert len(EXPERIMENTS) == len(EXPECTED)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_describes_its_experiment(path):
    cfg = load_config(str(path))
    scheme, frames, rate, size = _parse(path)
    dataset = path.parent.name
    assert scheme == cfg.TIMESFORMER.ATTENTION_TYPE
    assert frames == cfg.DATA.NUM_FRAMES
    assert cfg.DATA.TRAIN_CROP_SIZE == cfg.DATA.TEST_CROP_SIZE == size
    assert ([448, 512] if size == 448 else [256, 320]) == cfg.DATA.TRAIN_JITTER_SCALES
    if rate is not None:
        assert rate == cfg.DATA.SAMPLING_RATE and cfg.DATA.TARGET_FPS == 30
    assert NUM_CLASSES[dataset] == cfg.MODEL.NUM_CLASSES
    assert cfg.TRAIN.DATASET == cfg.TEST.DATASET == dataset.lower().replace("600", "")
    assert (dataset != "SSv2") == cfg.DATA.RANDOM_FLIP  # left/right is the SSv2 label
    # The paper's recipe.
    assert (cfg.SOLVER.OPTIMIZING_METHOD, cfg.SOLVER.BASE_LR, cfg.SOLVER.MAX_EPOCH) == ("sgd", 0.005, 15)
    assert (list(cfg.SOLVER.STEPS), list(cfg.SOLVER.LRS)) == ([0, 11, 14], [1, 0.1, 0.01])
    assert cfg.SOLVER.NESTEROV and cfg.SOLVER.MOMENTUM == 0.9 and cfg.SOLVER.WEIGHT_DECAY == 1e-4
    assert cfg.TRAIN.BATCH_SIZE == 64 and cfg.TEST.ENSEMBLE_METHOD == "softmax"
    for processes in (1, 2, 4, 8, 16, 32, 64):  # any cluster size that divides 64: the same step
        batch = train_batch(cfg, processes)
        assert batch.effective == 64 and batch.per_process <= cfg.TRAIN.MAX_BATCH_PER_PROCESS
    # as many clips per process as hold the tokens of 8 clips of 8x224 (12,544), at least one
    assert max(1, 8 * 8 * 14 ** 2 // (cfg.DATA.NUM_FRAMES * (size // 16) ** 2)) == cfg.TRAIN.MAX_BATCH_PER_PROCESS
    if dataset in FROM_KINETICS:  # starts from the Kinetics-400 TimeSformer, never a full training state
        assert "K400" in cfg.TIMESFORMER.PRETRAINED_MODEL and not cfg.TRAIN.CHECKPOINT_FILE_PATH
    else:
        assert cfg.TIMESFORMER.PRETRAINED_MODEL == "vit_base_patch16_224.orig_in21k_ft_in1k"
    if dataset == "HowTo100M":  # the whole video covered at test
        assert cfg.TEST.NUM_SPATIAL_CROPS == 1
    else:
        assert (cfg.TEST.NUM_ENSEMBLE_VIEWS, cfg.TEST.NUM_SPATIAL_CROPS) == (1, 3)


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_builds_the_paper_model(path):
    """Full size on the meta device (no memory): the parameter count of the paper's Table 1 (at
    8x224 with 174 classes; pos_embed, time_embed and head grow with the size, frames, classes)."""
    cfg = load_config(str(path), ["TIMESFORMER.PRETRAINED_MODEL", ""])
    with torch.device("meta"):
        model = build_model(cfg)
    params = sum(p.numel() for p in model.parameters())
    scheme = cfg.TIMESFORMER.ATTENTION_TYPE
    frames = cfg.DATA.NUM_FRAMES if scheme != "space_only" else 8
    expected = (PARAMS_174[scheme] + 769 * (cfg.MODEL.NUM_CLASSES - 174)
                + 768 * ((cfg.DATA.TRAIN_CROP_SIZE // 16) ** 2 - 14 ** 2) + 768 * (frames - 8))
    assert abs(params - expected) < 1e3, (params, expected)
    if cfg.TIMESFORMER.ATTENTION_TYPE != "space_only":
        assert model.model.time_embed.shape[1] == cfg.DATA.NUM_FRAMES


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_config_runs_at_a_tiny_size(path):
    cfg = load_config(str(path), TINY)
    model = build_model(cfg).eval()
    clip = torch.randn(1, 3, cfg.DATA.NUM_FRAMES, 32, 32)  # (B, C, T, H, W)
    with torch.no_grad():
        logits = model(clip)
    assert logits.shape == (1, cfg.MODEL.NUM_CLASSES) and torch.isfinite(logits).all()


def test_the_keys_a_packaged_config_states_are_read_from_any_folder(tmp_path, monkeypatch):
    from timesformer.config.stated import stated_keys

    monkeypatch.chdir(tmp_path)
    name = "Kinetics/TimeSformer_divST_8x32_224.yaml"
    load_config(name)  # found among the packaged configs
    assert {"TRAIN.BATCH_SIZE", "DATA.NUM_FRAMES", "NUM_GPUS"} <= stated_keys(name, ["NUM_GPUS", "2"])
