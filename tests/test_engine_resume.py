"""engine/resume.py: where a run's weights come from is decided once, and the file is read once per
process: its index to find it and learn what it says about itself, then its data to load it."""
import os
from collections import Counter

import pytest
import torch

from tests.conftest import QUICKSTART, load_tool, tiny_opts
from timesformer.config import load_config
from timesformer.engine.resume import decide_start


@pytest.fixture
def torch_loads(monkeypatch):
    """Every torch.load of this process, as (path, mapped from disk rather than read)."""
    calls = []
    real = torch.load

    def spy(f, *args, **kwargs):
        calls.append((os.path.abspath(f) if isinstance(f, (str, os.PathLike)) else f, bool(kwargs.get("mmap"))))
        return real(f, *args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    return calls


def _run(data_dir, out, **extra):  # noqa: F811 (data_dir: the fixture's value)
    opts = tiny_opts(data_dir, str(out), **{"TRAIN.EVAL_PERIOD": 0, **extra})
    return load_tool("run_net").main(["--cfg", QUICKSTART, *opts])


@pytest.fixture(scope="module")
def finished(data_dir, tmp_path_factory):  # noqa: F811
    """A one-epoch run without test: its folder and its one checkpoint."""
    out = tmp_path_factory.mktemp("finished")
    assert _run(data_dir, out, **{"TEST.ENABLE": False}) == 0
    (name,) = os.listdir(out / "checkpoints")
    return out, str(out / "checkpoints" / name)


def test_a_resume_reads_its_checkpoint_once(finished, data_dir, torch_loads, tmp_path):  # noqa: F811
    out, ckpt = finished
    assert decide_start(load_config(QUICKSTART, tiny_opts(data_dir, str(out)))).kind == "resume"
    torch_loads.clear()
    assert _run(data_dir, out, **{"TEST.ENABLE": False, "SOLVER.MAX_EPOCH": 2}) == 0  # resumes epoch 2
    reads = Counter(mapped for path, mapped in torch_loads if path == os.path.abspath(ckpt))
    # its index to find it (and its stored config: the channel order), its data to load it; before:
    # 3 more index reads (preflight, channel order, model builder) and a second full read
    assert reads == {True: 1, False: 1}, torch_loads


def test_a_test_reads_its_weights_once(finished, data_dir, torch_loads, tmp_path):  # noqa: F811
    _, ckpt = finished
    assert _run(data_dir, tmp_path / "test", **{"TRAIN.ENABLE": False, "TEST.CHECKPOINT_FILE_PATH": ckpt}) == 0
    reads = Counter(mapped for path, mapped in torch_loads if path == os.path.abspath(ckpt))
    # what it says (channel order, iteration) once, mapped; its data once, checked; before: read in
    # full for the channel order, mapped again for the iteration, read in full again to test
    assert reads == {True: 1, False: 1}, torch_loads


@pytest.mark.parametrize("opts,kind,key", [
    ({}, "scratch", ""),
    ({"TIMESFORMER.PRETRAINED_MODEL": "vit.pth"}, "pretrained", "TIMESFORMER.PRETRAINED_MODEL"),
    ({"TRAIN.CHECKPOINT_FILE_PATH": "{ckpt}"}, "checkpoint", "TRAIN.CHECKPOINT_FILE_PATH"),
    ({"TRAIN.CHECKPOINT_FILE_PATH": "{ckpt}", "TRAIN.FINETUNE": True}, "finetune", "TRAIN.CHECKPOINT_FILE_PATH"),
    ({"TRAIN.ENABLE": False, "TEST.CHECKPOINT_FILE_PATH": "{ckpt}"}, "test", "TEST.CHECKPOINT_FILE_PATH"),
    ({"TRAIN.ENABLE": False, "TIMESFORMER.PRETRAINED_MODEL": "vit.pth"}, "test", "TIMESFORMER.PRETRAINED_MODEL"),
])
def test_the_start_is_decided_in_one_place(finished, data_dir, tmp_path, opts, kind, key):  # noqa: F811
    opts = {k: v.format(ckpt=finished[1]) if isinstance(v, str) else v for k, v in opts.items()}
    start = decide_start(load_config(QUICKSTART, tiny_opts(data_dir, str(tmp_path / "new"), **opts)))
    assert (start.kind, start.key) == (kind, key)
    resumed = decide_start(load_config(QUICKSTART, tiny_opts(data_dir, str(finished[0]), **opts)))
    assert resumed.kind == ("resume" if opts.get("TRAIN.ENABLE", True) and not opts.get("TEST.CHECKPOINT_FILE_PATH")
                            else kind)
