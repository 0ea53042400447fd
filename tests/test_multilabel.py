"""Multi-label classification (DATA.MULTI_LABEL): several labels per video_list line, multi-hot
targets, BCE with timm's multi-label Mixup, views combined as sigmoid scores, average precision per
class and mAP; a tiny model learns a two-property task through tools/run_net.py, and predict
prints the same per-class probabilities."""
import json
import math

import numpy as np
import pytest
import torch

from tests.conftest import QUICKSTART, load_tool, tiny_opts
from tests.videos import write_two_property_set, write_video
from timesformer.config import load_config
from timesformer.data import build_dataset, build_mixup
from timesformer.data.datasets import AnnotationError
from timesformer.engine.evaluator import ViewCollector, combine_views, merge_rank_scores, multilabel_metrics
from timesformer.utils.logging import read_json_lines
from timesformer.utils.meters import average_precision, topk_correct

CLASSES = ["blue", "bright", "dark", "red"]  # the two-property set's names, sorted


def _cfg(root, *opts, classes=4):
    return load_config(None, ["TRAIN.DATASET", "video_list", "TEST.DATASET", "video_list", "DATA.MULTI_LABEL",
                              "True", "DATA.PATH_TO_DATA_DIR", str(root), "MODEL.NUM_CLASSES", str(classes),
                              "DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "2", "DATA.TRAIN_CROP_SIZE", "32",
                              "DATA.TEST_CROP_SIZE", "32", "DATA.TRAIN_JITTER_SCALES", "[32, 40]", *opts])


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    for name in ("a", "b", "c"):
        write_video(root / f"{name}.mp4", num_frames=12, width=32, height=32)
    return root


# ----------------------------------------------------------------------------- annotations
@pytest.mark.parametrize("sep, lines", [
    (" ", ["{v}/a.mp4 red,bright", "{v}/b.mp4 dark", "{v}/c.mp4 blue,dark,blue"]),
    (",", ["{v}/a.mp4,red,bright", "{v}/b.mp4,dark", "{v}/c.mp4,blue, dark"]),  # Charades-like CSV
])
def test_video_list_lines_hold_several_labels(tmp_path, videos, sep, lines):
    (tmp_path / "train.csv").write_text("\n".join(lines).format(v=videos) + "\n")
    ds = build_dataset(_cfg(tmp_path, "DATA.PATH_LABEL_SEPARATOR", sep), "train")
    assert ds.class_names == CLASSES  # sorted names of every label of train.csv
    assert [ds.records[i].label for i in range(3)] == [(1, 3), (2,), (0, 2)]
    item = ds[0]
    assert item["label"].dtype == torch.float32 and item["label"].tolist() == [0, 1, 0, 1]  # multi-hot (K,)
    assert item["frames"].shape == (3, 4, 32, 32)


def test_labels_may_be_indices_and_single_label_datasets_give_one_hot_targets(tmp_path, videos):
    (tmp_path / "train.csv").write_text(f"{videos}/a.mp4 0,3\n{videos}/b.mp4 2\n")
    ds = build_dataset(_cfg(tmp_path), "train")
    assert ds.class_names is None and ds.records[0].label == (0, 3)
    assert ds[1]["label"].tolist() == [0, 0, 1, 0]
    (tmp_path / "train.csv").write_text(f"{videos}/a.mp4 1\n")
    ds = build_dataset(_cfg(tmp_path, "TRAIN.DATASET", "kinetics"), "train")
    assert ds[0]["label"].tolist() == [0, 1, 0, 0]


@pytest.mark.parametrize("files, opts, expected", [
    ({"train.csv": "a.mp4 cat\nb.mp4 cat,dog\n"}, ["DATA.MULTI_LABEL", "False"],
     ["train.csv:2:", "'cat,dog'", "DATA.MULTI_LABEL True"]),
    ({"train.csv": "a.mp4 cat,dog\nb.mp4 cat,fox\n", "classnames.txt": "cat\ndog\nemu\nyak\n"}, [],
     ["train.csv:2:", "'fox'", "classnames.txt"]),
    ({"train.csv": "a.mp4 cat, dog\n"}, [], ["train.csv:1:", "without spaces"]),
    ({"train.csv": "a.mp4 cat,,dog\n"}, [], ["train.csv:1:", "empty"]),
    ({"train.csv": "a.mp4 0,4\n"}, [], ["train.csv:1:", "label 4", "outside 0..3"]),
    ({"train.csv": "a.mp4 cat,dog\n", "classnames.txt": "cat\ndog\n"}, [],
     ["2 classes", "MODEL.NUM_CLASSES = 4"]),
    ({"train.csv": "a.mp4 cat\n", "classnames.txt": "cat\ndog, wet\nemu\nyak\n"}, [],
     ["classnames.txt:2:", "'dog, wet'", "comma"]),
])
def test_bad_multi_label_annotations_name_the_file_and_line(tmp_path, files, opts, expected):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    with pytest.raises(AnnotationError) as e:
        build_dataset(_cfg(tmp_path, *opts), "train")
    for part in expected:
        assert part in str(e.value)


# ----------------------------------------------------------------------------- training pieces
def test_mixup_mixes_multi_hot_targets_smoothed_towards_one_half():
    cfg = _cfg("", "MIXUP.ENABLE", "True", "MIXUP.CUTMIX_ALPHA", "0.0", "MIXUP.LABEL_SMOOTH_VALUE", "0.2")
    mixup = build_mixup(cfg)
    x = torch.stack([torch.full((3, 2, 4, 4), float(i)) for i in range(4)])  # clip i is all i
    y = torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 1], [1, 1, 0, 0]], dtype=torch.float32)
    mixed, target = mixup(x.clone(), y)
    lam = float(1 - mixed[0].mean() / 3)  # clip 0 became lam * 0 + (1 - lam) * 3
    smooth = y * 0.8 + 0.1  # positives 0.9, negatives 0.1
    assert torch.allclose(target, lam * smooth + (1 - lam) * smooth.flip(0), atol=1e-6)
    assert torch.allclose(mixed[1], torch.full_like(mixed[1], lam * 1 + (1 - lam) * 2))


def test_top1_of_multi_hot_targets_counts_a_hit_on_any_positive():
    scores = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.7], [0.2, 0.3, 0.9]])
    targets = torch.tensor([[1, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=torch.float32)
    assert topk_correct(scores, targets, (1, 2)) == (1, 3)
    assert topk_correct(scores, targets.argmax(dim=1) * 0 + torch.tensor([1, 2, 1]), (1, 2)) == (1, 3)


# ----------------------------------------------------------------------------- evaluation
def test_average_precision_groups_tied_scores():
    assert average_precision(torch.tensor([0.9, 0.8, 0.7, 0.6]), torch.tensor([1, 0, 1, 0])) == pytest.approx(5 / 6)
    # the tie at 0.5 is one threshold (precision 1/3 at recall 1/2), whatever order the sort gives
    assert average_precision(torch.tensor([0.9, 0.5, 0.5, 0.1]), torch.tensor([0, 1, 0, 1])) == pytest.approx(
        0.5 / 3 + 0.5 * 0.5)
    assert average_precision(torch.tensor([0.9, 0.5, 0.5, 0.1]), torch.tensor([0, 0, 1, 1])) == pytest.approx(
        0.5 / 3 + 0.5 * 0.5)
    assert math.isnan(average_precision(torch.tensor([0.3, 0.2]), torch.tensor([0, 0])))


def test_multilabel_metrics_leave_out_and_count_classes_without_positives():
    scores = torch.tensor([[0.9, 0.2, 0.5], [0.1, 0.8, 0.4], [0.75, 0.7, 0.3]])  # (N, K)
    targets = torch.tensor([[1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=torch.float32)
    m = multilabel_metrics(scores, targets)
    ap1 = 100 * (1 / 1 + 2 / 2) / 2  # class 1: positives at ranks 1 and 2
    assert m["per_class_ap"] == [pytest.approx(100.0), pytest.approx(ap1), None]
    assert m["mAP"] == pytest.approx(100.0) and m["classes_without_positives"] == 1
    assert m["top1"] == pytest.approx(100 * 2 / 3) and m["num_videos"] == 3  # video 2's top class is 0


def test_views_combine_as_sigmoid_scores():
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]])  # (V, C)
    probs = logits.sigmoid()
    assert torch.allclose(combine_views(logits, "softmax", multi_label=True), probs.mean(0))
    assert torch.allclose(combine_views(logits, "max", multi_label=True), probs.max(0).values)
    assert torch.allclose(combine_views(logits, "sum", multi_label=True), logits.sum(0))


def test_views_split_between_ranks_combine_as_sigmoid_scores():
    # video 0: 2 views on two ranks (they travel as rows); video 1: both on rank 1 (combined there)
    shares = [{(0, 0): [2.0, -1.0]}, {(0, 1): [0.0, 3.0], (1, 0): [1.0, 1.0], (1, 1): [-1.0, 0.5]}]
    parts = []
    for share in shares:
        collector = ViewCollector(lambda video: 2, "softmax", multi_label=True)
        for (video, view), logits in share.items():
            collector.add(video, view, np.array(logits, np.float32))
        parts.append(collector.result({}))
    assert parts[1].videos.tolist() == [1]
    scores, counts, _ = merge_rank_scores(parts, num_videos=2, method="softmax", multi_label=True)
    assert counts.tolist() == [2, 2]
    assert torch.allclose(scores[0], torch.tensor([[2.0, -1.0], [0.0, 3.0]]).sigmoid().mean(0))
    assert torch.allclose(scores[1], torch.tensor([[1.0, 1.0], [-1.0, 0.5]]).sigmoid().mean(0))


# ----------------------------------------------------------------------------- the miniature
@pytest.fixture(scope="module")
def two_property_run(tmp_path_factory):
    """A tiny model trained and tested through tools/run_net.py on the two-property task."""
    root = tmp_path_factory.mktemp("multilabel")
    data = write_two_property_set(root / "data", {"train": 32, "val": 8, "test": 16})
    out = root / "out"
    opts = tiny_opts(str(data), str(out), **{
        "TRAIN.DATASET": "video_list", "TEST.DATASET": "video_list", "DATA.MULTI_LABEL": True, "DATA.PATH_PREFIX": data,
        "MODEL.NUM_CLASSES": 4, "SOLVER.MAX_EPOCH": 3, "TRAIN.BATCH_SIZE": 8, "TRAIN.EVAL_PERIOD": 3,
        "SOLVER.BASE_LR": 0.005, "MIXUP.ENABLE": True, "MIXUP.PROB": 0.5, "TEST.NUM_SPATIAL_CROPS": 3})
    assert load_tool("run_net").main(["--cfg", QUICKSTART, *opts]) == 0
    return data, out


def test_a_tiny_model_learns_two_independent_properties(two_property_run):
    data, out = two_property_run
    results = json.loads((out / "test_results.json").read_text())
    assert results["mAP"] > 90  # chance: about 50 (each class is on half of the videos)
    assert results["classes_without_positives"] == 0 and results["num_videos"] == 16
    assert [c["class"] for c in results["per_class"]] == CLASSES
    assert all(c["positives"] == 8 and c["ap"] > 80 for c in results["per_class"])
    assert results["per_class_ap"] == [c["ap"] for c in results["per_class"]]
    stats = read_json_lines(str(out / "stats.jsonl"))
    final = [r for r in stats if r["type"] == "test_final"][-1]
    assert final["mAP"] == results["mAP"] and final["per_class_ap"] == results["per_class_ap"]
    assert "mAP" in [r for r in stats if r["type"] == "val_epoch"][-1]
    epochs = [r for r in stats if r["type"] == "train_epoch"]
    assert len(epochs) == 3 and epochs[-1]["loss"] < epochs[0]["loss"] and "top1_err" in epochs[-1]
    rows = [json.loads(line) for line in (out / "test_predictions.jsonl").read_text().splitlines()]
    listed = [line.split()[1].split(",") for line in (data / "test.csv").read_text().splitlines()]
    assert [[CLASSES[k] for k in r["label"]] for r in rows] == [sorted(names) for names in listed]
    assert all(0 <= s <= 1 for r in rows for s in r["scores"]) and rows[0]["num_views"] == 3
    assert not (out / "test_confusion.png").exists()  # a confusion matrix needs one label per video


def test_predict_prints_the_per_class_probabilities_run_net_tested(two_property_run, capsys):
    data, out = two_property_run
    row = json.loads((out / "test_predictions.jsonl").read_text().splitlines()[0])
    ckpt = sorted((out / "checkpoints").glob("*.pyth"))[-1]
    assert load_tool("predict").main([str(data / row["video"]), "--weights", str(ckpt), "--json",
                                      "--topk", "4"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["protocol"]["multi_label"] is True
    top = {t["name"]: t["score"] for t in report["results"][0]["top"]}
    assert top == {name: pytest.approx(row["scores"][k], abs=1e-5) for k, name in enumerate(CLASSES)}
    assert {name for name, p in top.items() if p > 0.5} == {CLASSES[k] for k in row["label"]}
    assert load_tool("predict").main([str(data / row["video"]), "--weights", str(ckpt)]) == 0
    text = capsys.readouterr().out
    assert "multi-label" in text and "sigmoid" in text
