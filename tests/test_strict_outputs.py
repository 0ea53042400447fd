"""Every JSON and JSON-lines file the package writes is strict JSON (no NaN / Infinity tokens, which
jq, JavaScript and Go reject): test_results.json, {split}_predictions.jsonl, stats.jsonl,
predict --json and extract_features' manifest.jsonl / failed.jsonl. A number that is not finite is
null; stats.jsonl also names it."""
import json

import numpy as np
import pytest
import torch

from tests.checkpoints import kinetics_test_set, tiny_checkpoint
from tests.conftest import load_tool, run_test_only, strict_json
from tests.videos import write_video
from timesformer.engine.evaluator import write_predictions
from timesformer.utils.logging import JsonLinesWriter
from timesformer.utils.strict_json import dumps


def test_test_results_json_has_null_for_a_class_without_test_videos(tmp_path):
    """One test video of class 2 among 5 classes: the accuracy of classes 0, 1, 3, 4 is unknown."""
    _, ckpt = kinetics_test_set(tmp_path)
    out = run_test_only(tmp_path, ckpt)
    report = strict_json((out / "test_results.json").read_text())
    assert [row["acc"] is None for row in report["per_class"]] == [True, True, False, True, True]
    assert report["per_class"][2]["support"] == 1 and report["per_class"][0]["support"] == 0
    for line in (out / "stats.jsonl").read_text().splitlines():
        strict_json(line)
    for line in (out / "test_predictions.jsonl").read_text().splitlines():
        strict_json(line)


def test_predictions_of_non_finite_scores_are_null(tmp_path):
    scores = torch.tensor([[0.2, 0.8], [float("nan"), float("inf")]])
    path = tmp_path / "p.jsonl"
    write_predictions(str(path), ["a.mp4", "b.mp4"], torch.tensor([1, 0]), scores, torch.tensor([3, 3]))
    rows = [strict_json(line) for line in path.read_text().splitlines()]
    assert rows[1]["scores"] == [None, None] and rows[0]["scores"] == [0.2, 0.8]


def test_stats_jsonl_writes_a_non_finite_number_as_null_and_names_it(tmp_path):
    writer = JsonLinesWriter(str(tmp_path / "stats.jsonl"))
    writer.write({"type": "val_epoch", "iter": 4, "loss": float("nan"), "top1": torch.tensor(float("inf")),
                  "lr": np.float32(0.5)})
    writer.write({"type": "val_epoch", "iter": 8, "loss": 0.25})
    first, second = (strict_json(line) for line in (tmp_path / "stats.jsonl").read_text().splitlines())
    assert first == {"type": "val_epoch", "iter": 4, "loss": None, "top1": None, "lr": 0.5,
                     "non_finite": {"loss": "nan", "top1": "inf"}}
    assert second == {"type": "val_epoch", "iter": 8, "loss": 0.25}


def test_predict_json_of_a_model_that_outputs_nan_is_strict(tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4", num_frames=40, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    state = torch.load(ckpt, weights_only=True)
    state["model"]["model.head.bias"][1] = float("nan")
    torch.save(state, ckpt)
    assert load_tool("predict").main([str(video), "--weights", str(ckpt), "--device", "cpu", "--json"]) == 0
    out = strict_json(capsys.readouterr().out)
    assert any(t["score"] is None for t in out["results"][0]["top"])


def test_strict_dumps():
    text = dumps({"a": float("nan"), "b": [float("-inf"), 1.5], "t": torch.tensor([0.5, float("nan")]),
                  "n": np.float64(2.0), "s": "NaN"})
    assert strict_json(text) == {"a": None, "b": [None, 1.5], "t": [0.5, None], "n": 2.0, "s": "NaN"}
    with pytest.raises(TypeError):
        dumps({"x": object()})
    assert json.loads(dumps([1, 2])) == [1, 2]


def test_feature_manifests_are_strict(tmp_path):
    """extract_features' manifest lines and failures.jsonl: a number that is not finite is null."""
    from timesformer.features.store import MANIFEST, ManifestPart, merge_manifest, write_failures

    (tmp_path / "a.npy").write_bytes(b"")
    ManifestPart(str(tmp_path), 0).add({"video": "a.mp4", "file": "a.npy", "clips": [[0.0, float("nan")]]})
    merge_manifest(str(tmp_path), [])
    assert strict_json((tmp_path / MANIFEST).read_text())["clips"] == [[0.0, None]]
    write_failures(str(tmp_path), [{"video": "b.mp4", "error": "unreadable", "seconds": float("inf")}])
    assert strict_json((tmp_path / "failed.jsonl").read_text())["seconds"] is None


def test_a_json_file_that_cannot_be_written_leaves_the_old_one_and_no_temporary_file(tmp_path):
    from timesformer.utils.strict_json import write_json

    path = tmp_path / "r.json"
    write_json(str(path), {"top1": float("nan")})
    with pytest.raises(TypeError):
        write_json(str(path), {"classes": {1, 2}})  # a set is not JSON
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"] and json.loads(path.read_text()) == {"top1": None}
