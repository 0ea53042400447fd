"""Shared test helpers: tiny model sizes, the quick start made tiny, its synthetic videos, the tools'
modules. CPU only, nothing downloaded.

Test modules import these (``from tests.conftest import ...``) and never import one another; the
helper modules beside this one (tests/videos.py: encoded videos, tests/checkpoints.py: damaged
files) are imported the same way.
"""
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a test that reaches for the network fails loudly
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]  # the repository
QUICKSTART = str(ROOT / "configs" / "Synthetic" / "quickstart.yaml")

# Keyword arguments of a model small enough to run forward and backward in milliseconds.
TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_frames=4, num_classes=5)


def tiny_opts(data_dir, out_dir, **extra) -> list:
    """Overrides of the quick start for a model and data set that train in about a second."""
    opts = {"MODEL.EMBED_DIM": 32, "MODEL.DEPTH": 2, "MODEL.NUM_HEADS": 2, "MODEL.PATCH_SIZE": 8,
            "DATA.NUM_FRAMES": 4, "DATA.TRAIN_CROP_SIZE": 32, "DATA.TEST_CROP_SIZE": 32,
            "DATA.TRAIN_JITTER_SCALES": "[32, 40]", "DATA.SYNTHETIC_NUM_VIDEOS": 16,
            "DATA.PATH_TO_DATA_DIR": data_dir, "DATA_LOADER.NUM_WORKERS": 0, "TRAIN.BATCH_SIZE": 4,
            "TEST.BATCH_SIZE": 4, "SOLVER.MAX_EPOCH": 1, "SOLVER.WARMUP_EPOCHS": 0.5, "LOG_PERIOD": 1,
            "OUTPUT_DIR": out_dir, **extra}
    return [str(x) for kv in opts.items() for x in kv]


def strict_json(text: str):
    """``json.loads`` that refuses what JSON does not allow and Python's json writes by default
    (NaN, Infinity, -Infinity): what a strict reader (jq, JavaScript, Go) does."""
    def refuse(token: str):
        raise ValueError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def run_test_only(tmp_path: Path, ckpt, num_classes: int = 5) -> Path:
    """Test ``ckpt`` without training (one crop) on the set tests/checkpoints.py's ``kinetics_test_set``
    wrote into ``tmp_path``; returns the run's OUTPUT_DIR."""
    from timesformer.config import load_config
    from timesformer.engine import run

    out = tmp_path / "out"
    cfg = load_config(QUICKSTART, tiny_opts(str(tmp_path / "data"), str(out), **{
        "TRAIN.ENABLE": False, "TEST.DATASET": "kinetics", "TEST.CHECKPOINT_FILE_PATH": str(ckpt),
        "DATA.PATH_PREFIX": str(tmp_path / "videos"), "MODEL.DEPTH": 1, "MODEL.NUM_CLASSES": num_classes,
        "DATA.SAMPLING_RATE": 8, "TEST.NUM_SPATIAL_CROPS": 1, "MODEL.MLP_RATIO": 4.0}))
    run(cfg, torch.device("cpu"))
    return out


def final_state(out_dir) -> dict:
    """The newest checkpoint of a run."""
    from timesformer.checkpoint.checkpointer import Checkpointer

    ck = Checkpointer(out_dir, 0)
    path = ck.find_latest()
    assert path, f"no checkpoint in {out_dir}"
    return ck.load(path)


def start_run_net(opts, **popen) -> subprocess.Popen:
    """tools/run_net.py on the quick start with ``opts``, started as a real process (stdout and stderr piped)."""
    cmd = [sys.executable, os.path.join(ROOT, "tools", "run_net.py"), "--cfg", QUICKSTART, *opts]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)


def load_tool(name: str) -> ModuleType:
    """The code of tools/<name>.py: the module ``timesformer.cli.<name>`` (tools/<name>.py only calls
    its ``main``), from this checkout."""
    module = importlib.import_module(f"timesformer.cli.{name}")
    assert Path(module.__file__).resolve() == ROOT / "timesformer" / "cli" / f"{name}.py", \
        f"timesformer.cli.{name} comes from {module.__file__}, not this checkout"
    return module


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def tiny_kwargs():
    return dict(TINY)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    """The quick start's synthetic videos (16 of them), generated once for the test module."""
    from timesformer.data.datasets.synthetic import generate

    path = str(tmp_path_factory.mktemp("synthetic"))
    generate(path, 16)
    return path
