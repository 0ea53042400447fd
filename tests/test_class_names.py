"""Class names travel with the model: a training checkpoint stores its data set's names, and
convert (hf ``id2label``), predict, visualize, export and the test report use them, each saying
where the names came from (``class_names_source``). Names guessed from the class count are said to
be guessed, and never guessed for a model trained on one's own video_list set."""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.checkpoints import kinetics_test_set, tiny_checkpoint
from tests.conftest import QUICKSTART, ROOT, final_state, load_tool, run_test_only, strict_json, tiny_opts
from tests.videos import write_video
from timesformer.checkpoint.checkpointer import Checkpointer
from timesformer.config import load_config
from timesformer.engine import run

NAMES = ["brightening", "darkening"]  # the quick start's classnames.txt
GUESSED_K400 = "guessed from the class count (400: Kinetics-400)"


@pytest.fixture(scope="module")
def trained(data_dir, tmp_path_factory) -> Path:
    """One epoch of the tiny quick start and its test (the synthetic set names its classes)."""
    out = tmp_path_factory.mktemp("run")
    run(load_config(QUICKSTART, tiny_opts(data_dir, str(out))), torch.device("cpu"))
    return out


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    """tools/<name>.py as a real process."""
    return subprocess.run([sys.executable, f"tools/{name}.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_training_checkpoints_and_the_test_report_name_the_classes(trained):
    assert final_state(trained)["class_names"] == NAMES
    report = strict_json((trained / "test_results.json").read_text())
    assert [row["class"] for row in report["per_class"]] == NAMES
    assert report["class_names_source"] == "test data (synthetic dataset)"  # its names are built in
    with open(trained / "test_confusion.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", *NAMES] and [r[0] for r in rows[1:]] == NAMES


def test_names_travel_through_hf_conversion_into_predict_export_and_visualize(trained, data_dir, tmp_path, capsys):
    ckpt = shutil.copy(Checkpointer(str(trained), 0).find_latest(), tmp_path / "model.pyth")
    hf = tmp_path / "hf"
    proc = _script("convert_checkpoint", str(ckpt), str(hf), "--to", "hf")
    assert proc.returncode == 0, proc.stderr
    config = json.loads((hf / "config.json").read_text())
    assert config["id2label"] == {"0": "brightening", "1": "darkening"}
    video = os.path.join(data_dir, "videos", "test_00000.mp4")
    proc = _script("predict", video, "--weights", str(hf), "--json", "--device", "cpu")
    assert proc.returncode == 0, proc.stderr
    out = strict_json(proc.stdout)
    assert out["class_names_source"] == "checkpoint"
    assert {t["name"] for t in out["results"][0]["top"]} == set(NAMES)
    assert load_tool("predict").main([video, "--weights", str(ckpt), "--device", "cpu"]) == 0
    assert "class names: checkpoint" in capsys.readouterr().out
    import onnx

    onnx_path = tmp_path / "m.onnx"
    assert load_tool("export").main(["--weights", str(ckpt), "--out", str(onnx_path)]) == 0
    meta = {p.key: p.value for p in onnx.load(str(onnx_path)).metadata_props}
    assert json.loads(meta["class_names"]) == NAMES and meta["class_names_source"] == "checkpoint"
    capsys.readouterr()
    assert load_tool("visualize_attention").main([video, "--weights", str(ckpt), "--out", str(tmp_path / "vis"),
                                                  "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "class names: checkpoint" in printed and any(n in printed for n in NAMES)


def test_a_test_set_without_names_reports_the_checkpoints(trained, data_dir, tmp_path):
    """A Kinetics-format test set (integer labels only) tested with the trained checkpoint."""
    ckpt = Checkpointer(str(trained), 0).find_latest()
    lines = Path(data_dir, "test.csv").read_text()
    (tmp_path / "test.csv").write_text(lines)
    out = tmp_path / "out"
    cfg = load_config(QUICKSTART, tiny_opts(str(tmp_path), str(out), **{
        "TRAIN.ENABLE": False, "TEST.DATASET": "kinetics", "TEST.CHECKPOINT_FILE_PATH": ckpt,
        "DATA.PATH_PREFIX": data_dir}))
    run(cfg, torch.device("cpu"))
    report = strict_json((out / "test_results.json").read_text())
    assert report["class_names_source"] == "checkpoint"
    assert [row["class"] for row in report["per_class"]] == NAMES


def test_names_guessed_from_the_class_count_are_said_to_be(tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4", num_frames=40, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "k400.pth", ["MODEL.NUM_CLASSES", 400])  # TRAIN.DATASET kinetics
    predict = load_tool("predict")
    assert predict.main([str(video), "--weights", str(ckpt), "--device", "cpu"]) == 0
    assert f"class names: {GUESSED_K400}" in capsys.readouterr().out
    assert predict.main([str(video), "--weights", str(ckpt), "--device", "cpu", "--json"]) == 0
    out = strict_json(capsys.readouterr().out)
    assert out["class_names_source"] == GUESSED_K400
    assert predict.main([str(video), "--weights", str(ckpt), "--device", "cpu", "--json",
                         "--class-names", "k400"]) == 0
    assert strict_json(capsys.readouterr().out)["class_names_source"] == "--class-names k400"


def test_names_are_never_guessed_for_a_model_trained_on_a_video_list(tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4", num_frames=40, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "own.pth", ["MODEL.NUM_CLASSES", 400, "TRAIN.DATASET", "video_list",
                                                  "DATA.PATH_TO_DATA_DIR", str(tmp_path / "elsewhere")])
    assert load_tool("predict").main([str(video), "--weights", str(ckpt), "--device", "cpu", "--json"]) == 0
    out = strict_json(capsys.readouterr().out)
    assert out["class_names_source"].startswith("none") and "video_list" in out["class_names_source"]
    assert all(t["name"] == str(t["label"]) for t in out["results"][0]["top"])


def test_a_test_report_with_guessed_names_says_so(tmp_path):
    """A 400-class model without names tested on a Kinetics-format set (integer labels only)."""
    kinetics_test_set(tmp_path)  # the video and its test.csv; its checkpoint is not used
    ckpt = tiny_checkpoint(tmp_path / "k400.pth", ["MODEL.NUM_CLASSES", 400, "DATA.SAMPLING_RATE", 8])
    out = run_test_only(tmp_path, ckpt, num_classes=400)
    report = strict_json((out / "test_results.json").read_text())
    assert report["class_names_source"] == GUESSED_K400
    assert report["per_class"][0]["class"] == "abseiling"  # Kinetics-400's first class
    assert f"class names: {GUESSED_K400}" in (out / "log.txt").read_text()


def test_export_says_where_the_names_came_from(tmp_path, capsys):
    ckpt = tiny_checkpoint(tmp_path / "k400.pth", ["MODEL.NUM_CLASSES", 400])
    assert load_tool("export").main(["--weights", str(ckpt), "--out", str(tmp_path / "m.onnx")]) == 0
    assert f"class names: {GUESSED_K400}" in capsys.readouterr().out
