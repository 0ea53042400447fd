"""Damaged checkpoints are errors naming the file on every load path (the CRC-32s a file carries are
verified), and a test whose scores or loss are not finite fails naming the checkpoint."""
import os
import re
import shutil
from pathlib import Path

import pytest
import torch

from tests.checkpoints import damage_data
from tests.conftest import QUICKSTART, load_tool, tiny_opts
from timesformer.checkpoint import (
    Checkpointer,
    Weights,
    capture_rng_state,
    write_weights,
)
from timesformer.config import ConfigError, load_config
from timesformer.engine.resume import resume_or_load
from timesformer.models import TimeSformer, from_pretrained, load_pretrained, model_kwargs_from_cfg
from timesformer.utils.logging import read_json_lines

LOAD_PATHS = ["auto_resume", "train_checkpoint_file_path", "finetune", "from_pretrained", "hf_folder_bin",
              "convert", "predict", "export", "test_only"]


def _cfg(data_dir, out, **extra):
    return load_config(QUICKSTART, tiny_opts(data_dir, str(out), **extra))


def _save_checkpoint(cfg, out) -> str:
    """A training checkpoint of the tiny quick-start model, as the trainer writes it."""
    model = TimeSformer(**model_kwargs_from_cfg(cfg))
    opt = torch.optim.AdamW(model.parameters())
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 1, "iteration": 4,
             "epoch_iteration": 0, "rng": capture_rng_state(), "cfg": cfg.dump()}
    return Checkpointer(str(out), 3).save(state, 1, 4)


def _hf_folder_with_bin(cfg, path: str, folder) -> str:
    """A Hugging Face folder whose weights are a ``pytorch_model.bin`` (a torch zip archive)."""
    from safetensors.torch import load_file

    w = Weights(TimeSformer(**model_kwargs_from_cfg(cfg)).model.state_dict(), "timesformer", path,
                meta=dict(num_heads=cfg.MODEL.NUM_HEADS))
    write_weights(w, str(folder), "hf")
    torch.save(load_file(os.path.join(folder, "model.safetensors")), os.path.join(folder, "pytorch_model.bin"))
    os.remove(os.path.join(folder, "model.safetensors"))
    return os.path.join(folder, "pytorch_model.bin")


def _error_of(main, argv, capsys):
    """(exit status or None when it raised, the error text) of a tool's ``main``."""
    try:
        rc = main(argv)
    except ValueError as e:
        return None, str(e)
    return rc, capsys.readouterr().err


@pytest.mark.parametrize("path", LOAD_PATHS)
def test_every_load_path_refuses_data_that_fail_their_crc(data_dir, tmp_path, capsys, path):
    """Bytes of a tensor zeroed (finite values, so nothing else would notice): every way of reading the
    file stops with an error naming it and the CRC-32 check, instead of using the damaged weights."""
    cfg = _cfg(data_dir, tmp_path / "run")
    ckpt = _save_checkpoint(cfg, tmp_path / "run")
    damaged = ckpt
    if path == "hf_folder_bin":
        damaged = _hf_folder_with_bin(cfg, ckpt, tmp_path / "hf")
    damage_data(damaged)
    named = re.compile(re.escape(damaged) + r".*CRC-32")
    out = tmp_path / "converted.pyth"
    if path == "auto_resume":  # the run's only checkpoint: never a silent fresh start
        with pytest.raises(ConfigError, match=named):
            resume_or_load(cfg, Checkpointer(cfg.OUTPUT_DIR, 3), TimeSformer(**model_kwargs_from_cfg(cfg)))
    elif path in ("train_checkpoint_file_path", "finetune"):
        other = _cfg(data_dir, tmp_path / "other", **{"TRAIN.CHECKPOINT_FILE_PATH": ckpt,
                                                      "TRAIN.FINETUNE": path == "finetune"})
        with pytest.raises(ValueError, match=named):
            resume_or_load(other, Checkpointer(other.OUTPUT_DIR, 3), TimeSformer(**model_kwargs_from_cfg(other)))
    elif path in ("from_pretrained", "hf_folder_bin"):
        with pytest.raises(ValueError, match=named):
            from_pretrained(os.path.dirname(damaged) if path == "hf_folder_bin" else damaged)
        with pytest.raises(ValueError, match=named):
            load_pretrained(TimeSformer(**model_kwargs_from_cfg(cfg)), damaged)
    elif path == "convert":
        rc, err = _error_of(load_tool("convert_checkpoint").main, [damaged, str(out), "--to", "pyth"], capsys)
        assert rc != 0 and named.search(err) and not out.exists()
    elif path in ("predict", "export"):
        argv = (["video.mp4", "--weights", damaged] if path == "predict"
                else ["--weights", damaged, "--out", str(tmp_path / "m.onnx")])
        rc, err = _error_of(load_tool(path).main, argv, capsys)
        assert rc == 2 and named.search(err)
    else:
        opts = tiny_opts(data_dir, str(tmp_path / "test"), **{"TRAIN.ENABLE": False,
                                                              "TEST.CHECKPOINT_FILE_PATH": damaged})
        assert load_tool("run_net").main(["--cfg", QUICKSTART, *opts]) == 1
        assert named.search(capsys.readouterr().err)
        assert not os.path.exists(tmp_path / "test" / "test_results.json")


def test_the_damage_is_named_with_the_member_and_an_intact_copy_loads(data_dir, tmp_path):
    cfg = _cfg(data_dir, tmp_path)
    ckpt = _save_checkpoint(cfg, tmp_path)
    intact = str(tmp_path / "intact.pyth")
    shutil.copy(ckpt, intact)
    member = damage_data(ckpt)
    with pytest.raises(ValueError, match=re.escape(f"{ckpt}: damaged: the bytes of {member}")):
        Checkpointer.load(ckpt)
    assert from_pretrained(intact).model.num_classes == cfg.MODEL.NUM_CLASSES


def test_a_test_with_non_finite_scores_fails_naming_the_checkpoint(data_dir, tmp_path, capsys):
    """An intact file holding a NaN head (e.g. saved by a diverged run): the test must not print a
    top-1 and exit 0; it fails, naming the checkpoint, and writes no result."""
    cfg = _cfg(data_dir, tmp_path / "run")
    model = TimeSformer(**model_kwargs_from_cfg(cfg))
    with torch.no_grad():
        model.model.head.weight[0, 0] = float("nan")
    ckpt = str(tmp_path / "nan_head.pyth")
    torch.save({"model": model.state_dict(), "cfg": cfg.dump()}, ckpt)
    out = tmp_path / "test"
    opts = tiny_opts(data_dir, str(out), **{"TRAIN.ENABLE": False, "TEST.CHECKPOINT_FILE_PATH": ckpt})
    assert load_tool("run_net").main(["--cfg", QUICKSTART, *opts]) == 1
    err = capsys.readouterr().err
    assert f"error: testing {ckpt}: non-finite" in err and "Traceback" not in err
    assert not os.path.exists(out / "test_results.json")
    records = read_json_lines(str(out / "stats.jsonl")) if os.path.exists(out / "stats.jsonl") else []
    assert "test_final" not in [r["type"] for r in records]
    assert f"testing {ckpt}: non-finite" in Path(out / "log.txt").read_text()
