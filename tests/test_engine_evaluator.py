"""Evaluator: combining views, merging ranks' views once, metrics, confusion PNG, predictions file."""
import json
import os

import numpy as np
import pytest
import torch

from tests.conftest import QUICKSTART, tiny_opts
from timesformer.engine.confusion import confusion_figure, save_confusion_png
from timesformer.engine.evaluator import (
    ViewCollector,
    classification_metrics,
    combine_views,
    merge_rank_scores,
    write_predictions,
)


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


def _share(views, num_views, method="softmax"):
    collector = ViewCollector(lambda video: num_views[video], method)
    for (video, view), logits in views.items():
        collector.add(video, view, np.array(logits, np.float32))
    return collector.result({})


def test_views_from_ranks_count_once_and_videos_with_varying_views():
    # video 0: 3 views split over two ranks, one repeated (a padded sampler); video 1: 1 view
    # (HowTo100M-like: views vary per video), all on rank 1, combined there; video 2: no readable
    # view (skipped); video 3: 2 views, combined on rank 0 and one of them again on rank 1
    num_views = [3, 1, 2, 2]
    rank0 = {(0, 0): [1.0, 0.0], (0, 1): [0.0, 2.0], (3, 0): [1.0, 1.0], (3, 1): [2.0, 0.0]}
    rank1 = {(0, 2): [3.0, 0.0], (0, 1): [0.0, 2.0], (1, 0): [0.0, 1.0], (3, 1): [2.0, 0.0]}
    parts = [_share(rank0, num_views), _share(rank1, num_views)]
    assert parts[0].videos.tolist() == [3] and parts[1].videos.tolist() == [1]
    assert parts[0].view_keys.tolist() == [[0, 0], [0, 1]]  # video 0 is split: its views travel
    scores, counts, dup = merge_rank_scores(parts, num_videos=4, method="softmax")
    assert dup == 2 and counts.tolist() == [3, 1, 0, 2]
    expected = torch.tensor([rank0[(0, 0)], rank0[(0, 1)], rank1[(0, 2)]]).softmax(1).mean(0)
    assert torch.equal(scores[0], expected)  # combined from the same rows in the same order
    assert torch.equal(scores[3], combine_views(torch.tensor([rank0[(3, 0)], rank0[(3, 1)]]), "softmax"))
    assert torch.isnan(scores[2]).all()


def test_a_view_is_sent_as_a_compact_copy_not_its_batch():
    batch = np.arange(64 * 400, dtype=np.float32).reshape(64, 400)  # (B, C) logits of a batch
    collector = ViewCollector(lambda video: 2, "softmax")
    collector.add(0, 0, batch[0])  # video 0 waits for its second view on another rank
    assert collector.pending[0][0].base is None and collector.pending[0][0].nbytes == 400 * 4


def test_metrics_per_class_and_confusion():
    scores = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7]])
    labels = torch.tensor([0, 1, 1, 2])
    m = classification_metrics(scores, labels, num_classes=4)
    assert m["top1"] == pytest.approx(75.0) and "top5" not in m  # 100% by construction: not reported
    six = classification_metrics(torch.tensor([[0.1, 0.9, 0.5, 0.4, 0.3, 0.2]]), torch.tensor([2]), 6)
    assert six["top1"] == 0.0 and six["top5"] == 100.0
    assert m["per_class_acc"][:3] == pytest.approx([100.0, 50.0, 100.0])
    assert m["per_class_acc"][3] != m["per_class_acc"][3]  # NaN: no sample of class 3
    assert m["mean_class_acc"] == pytest.approx(250.0 / 3)
    assert m["confusion"].tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_confusion_png_and_predictions_file(tmp_path):
    conf = torch.tensor([[3, 1], [0, 4]])
    png = tmp_path / "c.png"
    save_confusion_png(conf, str(png), ["left", "right"], title="test: top-1 87.50%")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert confusion_figure(conf, title="test: top-1 87.50%").axes[0].get_title() == "test: top-1 87.50%"
    assert "confusion" in confusion_figure(conf).axes[0].get_title()
    scores = torch.tensor([[0.2, 0.8], [float("nan"), float("nan")], [0.9, 0.1]])
    path = tmp_path / "p.jsonl"
    write_predictions(str(path), ["a.mp4", "b.mp4", "c.mp4"], torch.tensor([1, 0, 1]), scores,
                      torch.tensor([3, 0, 2]))
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["video"] for r in rows] == ["a.mp4", "c.mp4"]  # b had no readable view
    assert rows[0] == {"video_index": 0, "video": "a.mp4", "label": 1, "pred": 1, "num_views": 3,
                       "scores": [0.2, 0.8]}
    assert rows[1]["pred"] == 0 and rows[1]["label"] == 1


def _evaluate_and_record(cfg, device):
    """One process of a two-process evaluation: evaluate, recording the size of what this rank sends
    through torch.distributed and whether it receives the others' share."""
    import pickle

    from timesformer.data import build_loader
    from timesformer.engine.evaluator import evaluate
    from timesformer.models import TimeSformer, model_kwargs_from_cfg
    from timesformer.utils import distributed as du

    sent = []

    def spy(collective):
        def call(obj, *args, **kwargs):
            received = collective(obj, *args, **kwargs)
            sent.append({"bytes": len(pickle.dumps(obj)), "received": received is not None})
            return received
        return call

    for name in ("gather_object", "all_gather_object"):  # whichever the evaluator uses
        if hasattr(du, name):
            setattr(du, name, spy(getattr(du, name)))
    torch.manual_seed(0)
    model = TimeSformer(**model_kwargs_from_cfg(cfg))
    loader = build_loader(cfg, "test")
    metrics = evaluate(model, loader, device, cfg, "test")
    torch.save({"sent": sent, "views": sum(len(b) for b in loader.batch_sampler), "top1": metrics["top1"],
                "loss": metrics["loss"], "num_views": metrics["num_views"], "scores": metrics.get("scores")},
               os.path.join(cfg.OUTPUT_DIR, f"rank{du.get_rank()}.pt"))


@pytest.mark.slow
def test_two_processes_send_compact_scores_to_rank_0_only_and_score_as_one(tmp_path):
    from timesformer.config import load_config
    from timesformer.data.datasets.synthetic import generate
    from timesformer.engine import launch

    data = str(tmp_path / "data")
    generate(data, 36)  # 9 test videos x 3 crops: 27 views, rank 0 gets 13, video 4 is split
    opts = {"DATA.SYNTHETIC_NUM_VIDEOS": 36, "TEST.NUM_SPATIAL_CROPS": 3}  # one view per batch:
    two = load_config(QUICKSTART, tiny_opts(data, str(tmp_path / "two"), NUM_GPUS=2, **opts,
                                            **{"TEST.BATCH_SIZE": 2}))  # the same logits in both runs
    one = load_config(QUICKSTART, tiny_opts(data, str(tmp_path / "one"), **opts, **{"TEST.BATCH_SIZE": 1}))
    os.makedirs(two.OUTPUT_DIR)
    os.makedirs(one.OUTPUT_DIR)
    launch(_evaluate_and_record, two)
    _evaluate_and_record(one, torch.device("cpu"))
    ranks = [torch.load(tmp_path / "two" / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    alone = torch.load(tmp_path / "one" / "rank0.pt", weights_only=True)
    assert [r["views"] for r in ranks] == [13, 14]
    # each rank sends its share once; only rank 0 receives the shares
    assert [[s["received"] for s in r["sent"]] for r in ranks] == [[True], [False]]
    classes = 2
    for r in ranks:  # about a row of float32 per video, not a tensor (or a whole batch) per view
        assert r["sent"][0]["bytes"] <= 2048 + r["views"] * (4 * classes + 16)
    # the same scores as one process, bit for bit, and every rank knows the result
    assert torch.equal(ranks[0]["scores"], alone["scores"])
    for r in ranks:
        assert (r["top1"], r["loss"], r["num_views"]) == (alone["top1"], alone["loss"], 27)
