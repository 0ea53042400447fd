"""Faults a user can cause from the command line end as one ``error:`` line that names the file, key
or value and what to do, never a traceback: exit status 2 for a config found wrong before anything
starts, 1 for a fault found while running. And the messages around resuming say what happened."""
import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import QUICKSTART, ROOT, load_tool, tiny_opts
from timesformer.models import TimeSformer

TORCH_ADVICE = ("weights_only=False", "weights_only` set to `False", "add_safe_globals", "safe_globals")


def error_line(err: str) -> str:
    """The last line of stderr, checked to be the one ``error:`` line of a run without a traceback."""
    assert "Traceback" not in err, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: "), err[-3000:]
    return last


def _opts(data_dir, out, **extra):
    return tiny_opts(data_dir, str(out), **{"TEST.ENABLE": False, "TRAIN.EVAL_PERIOD": 0, **extra})


def run_net(capsys, data_dir, out, **extra):
    """tools/run_net.py's main() in this process: (exit status, stdout, stderr)."""
    status = load_tool("run_net").main(["--cfg", QUICKSTART, *_opts(data_dir, out, **extra)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory):
    """A finished one-epoch run (2 classes, ZERO_WD_1D_PARAM True): its folder and checkpoint."""
    out = str(tmp_path_factory.mktemp("trained"))
    assert load_tool("run_net").main(["--cfg", QUICKSTART, *_opts(data_dir, out)]) == 0
    ckpts = os.listdir(os.path.join(out, "checkpoints"))
    assert ckpts == ["checkpoint_epoch_00001_iter_000000004.pyth"]
    return out, os.path.join(out, "checkpoints", ckpts[0])


def copy_run(trained, tmp_path) -> str:
    out = str(tmp_path / "run")
    shutil.copytree(trained[0], out)
    return out


def refused_file(path) -> str:
    """A checkpoint holding a pickled object other than tensors and plain containers."""
    torch.save({"model": {}, "args": argparse.Namespace(lr=0.1)}, path)
    return str(path)


# ---------------------------------------------------------------- config files (exit status 2)
CONFIG_FILES = {
    "missing_base": ({"exp.yaml": "_BASE_: ../nowhere/base.yaml\n"}, ["exp.yaml", "_BASE_", "nowhere/base.yaml"]),
    "yaml_syntax": ({"exp.yaml": "MODEL:\n  NUM_CLASSES: [1\n"}, ["exp.yaml", "line 3", "not valid YAML"]),
    "circular_base": ({"exp.yaml": "_BASE_: b.yaml\n", "b.yaml": "_BASE_: exp.yaml\n"},
                      ["circular _BASE_", "exp.yaml -> ", "b.yaml -> ", "exp.yaml"]),
    "empty": ({"exp.yaml": "# nothing yet\n"}, ["exp.yaml", "is empty"]),
    "list": ({"exp.yaml": "- MODEL\n- DATA\n"}, ["exp.yaml", "a list", "mapping"]),
    "scalar_for_a_section": ({"exp.yaml": "MODEL: 3\n"}, ["exp.yaml", "MODEL", "section"]),
    "unsafe_tag": ({"exp.yaml": "MODEL: !!python/object/apply:os.system ['echo pwned']\n"},
                   ["exp.yaml", "line 1", "python/object/apply:os.system"]),
    "bad_key_in_base": ({"exp.yaml": "_BASE_: base.yaml\n", "base.yaml": "MODEL:\n  NUM_CLASES: 3\n"},
                        ["base.yaml", "MODEL.NUM_CLASES", "MODEL.NUM_CLASSES"]),
    "base_not_a_path": ({"exp.yaml": "_BASE_: {a: 1}\n"}, ["exp.yaml", "_BASE_", "path"]),
}


@pytest.mark.parametrize("name", list(CONFIG_FILES))
def test_a_broken_config_file_is_one_error_line(name, tmp_path, capsys):
    files, expected = CONFIG_FILES[name]
    for fname, text in files.items():
        (tmp_path / fname).write_text(text)
    assert load_tool("run_net").main(["--cfg", str(tmp_path / "exp.yaml")]) == 2
    line = error_line(capsys.readouterr().err)
    for part in expected:
        assert part in line, line
    assert "pwned" not in capsys.readouterr().out


def test_circular_base_in_a_real_process(tmp_path):
    (tmp_path / "a.yaml").write_text("_BASE_: b.yaml\n")
    (tmp_path / "b.yaml").write_text("_BASE_: ./a.yaml\n")
    proc = subprocess.run([sys.executable, "tools/run_net.py", "--cfg", str(tmp_path / "a.yaml")], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    line = error_line(proc.stderr)
    assert f"circular _BASE_: {tmp_path / 'a.yaml'} -> {tmp_path / 'b.yaml'} -> {tmp_path / 'a.yaml'}" in line
    assert len(proc.stderr.splitlines()) == 1


def test_sgd_nesterov_without_momentum_is_a_config_error(capsys):
    assert load_tool("run_net").main(["--cfg", QUICKSTART, "SOLVER.OPTIMIZING_METHOD", "sgd",
                                  "SOLVER.MOMENTUM", "0.0"]) == 2
    line = error_line(capsys.readouterr().err)
    assert "SOLVER.NESTEROV" in line and "SOLVER.MOMENTUM = 0.0" in line


# ---------------------------------------------------------------- resuming and loading (exit status 1)
def test_auto_resume_with_another_class_count_names_it_and_the_hint_works(trained, data_dir, tmp_path, capsys):
    out = copy_run(trained, tmp_path)
    status, _, err = run_net(capsys, data_dir, out, **{"MODEL.NUM_CLASSES": 3})
    line = error_line(err)
    assert status == 1
    assert "MODEL.NUM_CLASSES: 2 in the checkpoint, 3 now" in line and "TRAIN.AUTO_RESUME" in line
    # the hint: a new OUTPUT_DIR, starting from the old run's weights
    ckpt = os.path.join(out, "checkpoints", os.path.basename(trained[1]))
    hint = line[line.index("new OUTPUT_DIR"):]
    assert f"TRAIN.CHECKPOINT_FILE_PATH {ckpt} TRAIN.FINETUNE True" in hint
    status, log, _ = run_net(capsys, data_dir, tmp_path / "new", **{
        "MODEL.NUM_CLASSES": 3, "TRAIN.CHECKPOINT_FILE_PATH": ckpt, "TRAIN.FINETUNE": True})
    assert status == 0 and f"fine-tuning from the weights of {ckpt}" in log


def test_auto_resume_with_another_weight_decay_grouping_names_the_key(trained, data_dir, tmp_path, capsys):
    out = copy_run(trained, tmp_path)
    status, _, err = run_net(capsys, data_dir, out, **{"SOLVER.ZERO_WD_1D_PARAM": False, "SOLVER.MAX_EPOCH": 2})
    line = error_line(err)
    assert status == 1 and "SOLVER.ZERO_WD_1D_PARAM: True in the checkpoint, False now" in line
    assert "optimizer" in line and "new OUTPUT_DIR" in line


def test_a_refused_pickle_is_named_without_advice_to_turn_the_safety_off(data_dir, tmp_path, capsys):
    evil = refused_file(tmp_path / "evil.pyth")
    status, _, err = run_net(capsys, data_dir, tmp_path / "out", **{"TRAIN.CHECKPOINT_FILE_PATH": evil})
    line = error_line(err)
    assert status == 1
    assert f"TRAIN.CHECKPOINT_FILE_PATH = '{evil}'" in line and "refused" in line and "argparse.Namespace" in line
    assert not any(advice in err for advice in TORCH_ADVICE)


def _weights(path, **kw) -> str:
    args = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_frames=4, num_classes=2)
    args.update(kw)
    torch.save({"model": TimeSformer(**args).state_dict(), "model_kwargs": {"num_heads": args["num_heads"]}}, path)
    return str(path)


def _text(path, text: str) -> str:
    path.write_text(text)
    return str(path)


PRETRAINED = {  # how the file is made, the exit status, what the error line says
    "missing": (lambda p: str(p), 2, "no such file"),
    "refused": (refused_file, 1, "refused"),
    "not_a_torch_file": (lambda p: _text(p, "hello"), 1, "not a readable PyTorch file"),
    "another_model_size": (lambda p: _weights(p, embed_dim=64, num_heads=4), 1, "do not fit"),
}


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_pretrained_model_that_cannot_be_loaded(name, data_dir, tmp_path, capsys):
    make, status, says = PRETRAINED[name]
    path = make(tmp_path / "weights.pyth")
    code, _, err = run_net(capsys, data_dir, tmp_path / "out", **{"TIMESFORMER.PRETRAINED_MODEL": path})
    line = error_line(err)
    assert code == status and f"TIMESFORMER.PRETRAINED_MODEL = '{path}'" in line and says in line
    assert not any(advice in err for advice in TORCH_ADVICE)


def _limit_file_size():
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))


def test_a_full_disk_names_the_file_and_keeps_the_previous_checkpoint(trained, data_dir, tmp_path):
    """Writes past 100 kB fail (RLIMIT_FSIZE), as on a full disk: torch reports "unexpected pos"."""
    out = copy_run(trained, tmp_path)
    previous = os.path.join(out, "checkpoints", os.path.basename(trained[1]))
    before = Path(previous).read_bytes()
    proc = subprocess.run([sys.executable, "tools/run_net.py", "--cfg", QUICKSTART,
                           *_opts(data_dir, out, **{"SOLVER.MAX_EPOCH": 2})], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, preexec_fn=_limit_file_size)
    assert proc.returncode == 1, proc.stderr[-3000:]
    line = error_line(proc.stderr)
    assert "could not write" in line and "checkpoint_epoch_00002_iter_000000008.pyth" in line
    assert f"{previous} is intact" in line and "disk" in line
    assert os.listdir(os.path.join(out, "checkpoints")) == [os.path.basename(previous)]
    assert Path(previous).read_bytes() == before


# ---------------------------------------------------------------- messages around resuming
def test_a_refused_checkpoint_in_output_dir_is_reported_as_refused(data_dir, tmp_path, capsys):
    ckpt_dir = tmp_path / "out" / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    evil = refused_file(ckpt_dir / "checkpoint_epoch_00001_iter_000000004.pyth")
    status, _, err = run_net(capsys, data_dir, tmp_path / "out", **{"TRAIN.ENABLE": False, "TEST.ENABLE": True})
    line = error_line(err)
    assert status == 2 and "nothing to test" in line and f"{evil} was refused" in line
    assert "has no checkpoint" not in line


def test_a_damaged_checkpoint_is_warned_about_once_and_the_start_is_named(trained, data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "checkpoints").mkdir(parents=True)
    damaged = out / "checkpoints" / os.path.basename(trained[1])
    damaged.write_bytes(Path(trained[1]).read_bytes()[:3000])  # a copy cut off
    status, log, err = run_net(capsys, data_dir, out)
    # the run's only checkpoint is damaged: no silent fresh start that would drop its progress
    assert status == 1 and log.count(f"skipping unreadable checkpoint {damaged}") == 1
    assert str(damaged) in error_line(err) and "move them aside to start afresh" in error_line(err)
    os.replace(damaged, tmp_path / "aside.pyth")  # as the error says
    status, log, _ = run_net(capsys, data_dir, out)
    assert status == 0 and "starting from scratch" in log


def test_a_finished_run_started_again_says_so(trained, data_dir, tmp_path, capsys):
    status, log, _ = run_net(capsys, data_dir, copy_run(trained, tmp_path))
    assert status == 0 and "already finished (epoch 1 of 1)" in log and "resuming at epoch 2" not in log


# ---------------------------------------------------------------- tools/convert_checkpoint.py
def _convert(capsys, *argv):
    status = load_tool("convert_checkpoint").main([str(a) for a in argv])
    return status, error_line(capsys.readouterr().err)


def test_convert_checkpoint_faults_are_one_line(tmp_path, capsys):
    missing = tmp_path / "missing.pyth"
    status, line = _convert(capsys, missing, tmp_path / "o.pyth", "--to", "pyth")
    assert status == 2 and str(missing) in line and "no such file" in line
    evil = refused_file(tmp_path / "evil.pyth")
    status, line = _convert(capsys, evil, tmp_path / "o.pyth", "--to", "pyth")
    assert status == 1 and evil in line and "refused" in line and "argparse.Namespace" in line
    axial = _weights(tmp_path / "axial.pyth", attention_type="axial")
    status, line = _convert(capsys, axial, tmp_path / "hf", "--to", "hf")
    assert status == 1 and "width_" in line and "--to pyth" in line
    (tmp_path / "a_file").write_text("")
    status, line = _convert(capsys, _weights(tmp_path / "w.pyth"), tmp_path / "a_file" / "o.pyth", "--to", "pyth")
    assert status == 1 and str(tmp_path / "a_file" / "o.pyth") in line


def test_convert_checkpoint_in_a_real_process(tmp_path):
    evil = refused_file(tmp_path / "evil.pyth")
    proc = subprocess.run([sys.executable, "tools/convert_checkpoint.py", evil, str(tmp_path / "o"), "--to", "hf"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "refused" in error_line(proc.stderr)
    assert not any(advice in proc.stderr for advice in TORCH_ADVICE)
