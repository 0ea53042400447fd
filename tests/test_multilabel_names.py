"""Class names and strict JSON hold for multi-label models too (DATA.MULTI_LABEL): the checkpoint stores
the names, test_results.json's per-class AP table names the classes, says where the names came from
and writes the AP of a class without a positive video as null; predict (run as a real process),
visualize_attention and export name the classes and say the probability is a sigmoid."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import QUICKSTART, ROOT, final_state, load_tool, strict_json, tiny_opts
from tests.videos import write_two_property_set

# The two-property set's four names and "green", a class no video has, sorted as classnames.txt lists them.
NAMES = ["blue", "bright", "dark", "green", "red"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """One epoch of a tiny multi-label model on the two-property set, tested (tools/run_net.py's code)."""
    root = tmp_path_factory.mktemp("multilabel_names")
    data = write_two_property_set(root / "data", {"train": 8, "val": 4, "test": 4})
    (data / "classnames.txt").write_text("".join(f"{name}\n" for name in NAMES))
    out = root / "out"
    opts = tiny_opts(str(data), str(out), **{
        "TRAIN.DATASET": "video_list", "TEST.DATASET": "video_list", "DATA.MULTI_LABEL": True,
        "DATA.PATH_PREFIX": data, "MODEL.NUM_CLASSES": len(NAMES), "TEST.NUM_SPATIAL_CROPS": 1})
    assert load_tool("run_net").main(["--cfg", QUICKSTART, *opts]) == 0
    return out


def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    """tools/<name>.py as a real process."""
    return subprocess.run([sys.executable, f"tools/{name}.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def _checkpoint(out: Path) -> str:
    return str(sorted((out / "checkpoints").glob("*.pyth"))[-1])


def test_the_per_class_ap_table_names_the_classes_in_strict_json(run_dir):
    assert final_state(run_dir)["class_names"] == NAMES
    report = strict_json((run_dir / "test_results.json").read_text())
    assert [row["class"] for row in report["per_class"]] == NAMES
    assert report["class_names_source"].startswith("test data (") and "classnames.txt" in report["class_names_source"]
    green = report["per_class"][NAMES.index("green")]
    assert green == {"class": "green", "ap": None, "positives": 0}  # no positive video: no AP
    assert report["classes_without_positives"] == 1
    final = [strict_json(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()][-1]
    assert final["type"] == "test_final" and final["per_class_ap"][NAMES.index("green")] is None
    for line in (run_dir / "test_predictions.jsonl").read_text().splitlines():
        row = strict_json(line)
        assert isinstance(row["label"], list) and len(row["scores"]) == len(NAMES)


def test_predict_and_visualize_name_the_classes_and_say_sigmoid(run_dir, tmp_path, capsys):
    ckpt = _checkpoint(run_dir)
    video = str(run_dir.parent / "data" / "videos" / "test_0000.mp4")
    proc = _script("predict", video, "--weights", ckpt, "--json", "--device", "cpu", "--topk", "5")
    assert proc.returncode == 0, proc.stderr
    report = strict_json(proc.stdout)
    assert report["class_names_source"] == "checkpoint" and report["protocol"]["multi_label"] is True
    assert sorted(t["name"] for t in report["results"][0]["top"]) == NAMES
    assert load_tool("visualize_attention").main([video, "--weights", ckpt, "--out", str(tmp_path / "vis"),
                                                  "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    title = next(line for line in printed.splitlines() if line.startswith("title: "))
    name = title.split()[1]
    assert name in NAMES and "probability (sigmoid) 0." in title and "softmax" not in title, title
    assert "class names: checkpoint" in printed
    assert (tmp_path / "vis" / "test_0000_attention.png").is_file()


def test_the_onnx_file_names_the_classes_and_says_sigmoid(run_dir, tmp_path):
    import onnx

    path = tmp_path / "m.onnx"
    assert load_tool("export").main(["--weights", _checkpoint(run_dir), "--out", str(path)]) == 0
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert strict_json(meta["class_names"]) == NAMES and meta["class_names_source"] == "checkpoint"
    assert meta["probability"].startswith("sigmoid")
