"""Evaluator: combining views, merging ranks' views once, metrics, confusion PNG, predictions file."""
import json

import pytest
import torch

from timesformer.engine.evaluator import (classification_metrics, combine_views, merge_views,
                                          save_confusion_png, video_scores, write_predictions)


def test_combine_views_methods():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 3.0, 0.0]])  # (V=2, C=3)
    soft = logits.softmax(1)
    assert torch.allclose(combine_views(logits, "softmax"), soft.mean(0))
    assert torch.allclose(combine_views(logits, "sum"), torch.tensor([2.0, 3.0, 0.0]))
    assert torch.allclose(combine_views(logits, "max"), soft.max(0).values)
    # softmax averaging and summed logits can disagree: a confident view dominates the sum
    disagree = torch.tensor([[10.0, 0.0], [0.0, 3.0], [0.0, 3.0]])
    assert combine_views(disagree, "sum").argmax() == 0 and combine_views(disagree, "softmax").argmax() == 1
    with pytest.raises(ValueError, match="ENSEMBLE_METHOD"):
        combine_views(logits, "vote")


def test_views_from_ranks_count_once_and_videos_with_varying_views():
    # video 0: 3 views split over two ranks, one repeated (a padded sampler); video 1: 1 view
    # (HowTo100M-like: views vary per video); video 2: no readable view (skipped)
    rank0 = {(0, 0): torch.tensor([1.0, 0.0]), (0, 1): torch.tensor([0.0, 2.0])}
    rank1 = {(0, 2): torch.tensor([3.0, 0.0]), (0, 1): torch.tensor([0.0, 2.0]), (1, 0): torch.tensor([0.0, 1.0])}
    merged, dup = merge_views([rank0, rank1])
    assert dup == 1 and len(merged) == 4
    scores, counts = video_scores(merged, num_videos=3, method="softmax")
    assert counts.tolist() == [3, 1, 0]
    expected = torch.stack([rank0[(0, 0)], rank0[(0, 1)], rank1[(0, 2)]]).softmax(1).mean(0)
    assert torch.allclose(scores[0], expected)
    assert torch.isnan(scores[2]).all()


def test_metrics_per_class_and_confusion():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    labels = torch.tensor([0, 1, 1, 2])
    m = classification_metrics(scores, labels, num_classes=4)
    assert m["top1"] == pytest.approx(75.0) and m["top5"] == pytest.approx(100.0)
    assert m["per_class_acc"][:3] == pytest.approx([100.0, 50.0, 100.0])
    assert m["per_class_acc"][3] != m["per_class_acc"][3]  # NaN: no sample of class 3
    assert m["mean_class_acc"] == pytest.approx(250.0 / 3)
    assert m["confusion"].tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_confusion_png_and_predictions_file(tmp_path):
    conf = torch.tensor([[3, 1], [0, 4]])
    png = tmp_path / "c.png"
    save_confusion_png(conf, str(png), ["left", "right"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    scores = torch.tensor([[0.2, 0.8], [float("nan"), float("nan")], [0.9, 0.1]])
    path = tmp_path / "p.jsonl"
    write_predictions(str(path), ["a.mp4", "b.mp4", "c.mp4"], torch.tensor([1, 0, 1]), scores,
                      torch.tensor([3, 0, 2]))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["video"] for r in rows] == ["a.mp4", "c.mp4"]  # b had no readable view
    assert rows[0] == {"video_index": 0, "video": "a.mp4", "label": 1, "pred": 1, "num_views": 3,
                       "scores": [0.2, 0.8]}
    assert rows[1]["pred"] == 0 and rows[1]["label"] == 1
