"""Multi-view evaluation: every view scored once across ranks, combined per video, scored, saved.

Each rank combines the views of the videos it has all the views of (shards are contiguous, so all
but the videos at a shard's edges) and sends rank 0 alone one row per such video plus the rows of
the other views, as compact numpy arrays: rank 0 holds one row per video, the other ranks nothing
of the others'. A video is combined from the same rows in the same order wherever that happens, so
the scores do not depend on the number of processes. The pure functions (``combine_views``,
``ViewCollector``, ``merge_rank_scores``, ``classification_metrics``) are tested alone; ``evaluate``
runs a model over a loader and ties them together.
"""
import dataclasses
import logging
import math
import os
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Set, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from timesformer.classnames import CHECKPOINT, ClassNames, guess_class_names
from timesformer.data import normalize
from timesformer.utils import distributed as du
from timesformer.utils.amp import autocast
from timesformer.utils.files import atomic_open
from timesformer.utils.meters import average_precision, gpu_memory_mb, reported_topk, topk_correct
from timesformer.utils.progress import Progress
from timesformer.utils.strict_json import dumps, finite_or_none

from .confusion import save_confusion_csv, save_confusion_png

logger = logging.getLogger(__name__)

ENSEMBLE_METHODS = ("softmax", "sum", "max")


def combine_views(logits: torch.Tensor, method: str, multi_label: bool = False) -> torch.Tensor:
    """One video's score (C,) from its views' logits (V, C): the mean class probability ("softmax"),
    summed logits ("sum") or the max probability ("max"). The probabilities are a softmax over the
    classes, or with ``multi_label`` one sigmoid per class (DATA.MULTI_LABEL)."""
    if method not in ENSEMBLE_METHODS:
        raise ValueError(f"TEST.ENSEMBLE_METHOD = {method!r}; expected one of {ENSEMBLE_METHODS}")
    if method == "sum":
        return logits.float().sum(dim=0)
    probs = logits.float().sigmoid() if multi_label else logits.float().softmax(dim=1)  # (V, C)
    return probs.mean(dim=0) if method == "softmax" else probs.max(dim=0).values


@dataclasses.dataclass
class RankScores:
    """One rank's share of an evaluation as sent to rank 0: numpy arrays, so a pickle holds the
    numbers and nothing else. Videos whose views this rank has all are combined already; the views
    of the others (split between ranks, or with unreadable views) travel as rows."""

    videos: np.ndarray  # (M,) int64: the videos combined on this rank
    counts: np.ndarray  # (M,) int64: their views
    scores: np.ndarray  # (M, C) float32: their combined scores
    view_keys: np.ndarray  # (K, 2) int64: (video, view) of each loose view
    view_logits: np.ndarray  # (K, C) float32: its logits
    duplicates: int = 0  # views that reached this rank more than once (counted once)
    info: Dict[str, float] = dataclasses.field(default_factory=dict)  # loss_sum, clips, skipped_views


class ViewCollector:
    """Collects one rank's view logits, combining a video's views as soon as all ``num_views(video)``
    of them are in (the views of a video are contiguous in a shard, so few wait); ``multi_label``:
    as sigmoid scores (``combine_views``)."""

    def __init__(self, num_views: Callable[[int], int], method: str, multi_label: bool = False):
        self.num_views, self.method, self.multi_label = num_views, method, multi_label
        self.pending: Dict[int, Dict[int, np.ndarray]] = {}  # video -> {view: logits (C,)}
        self.done: Set[int] = set()
        self.videos: List[int] = []
        self.counts: List[int] = []
        self.scores: List[np.ndarray] = []
        self.duplicates, self.num_classes = 0, 0

    def add(self, video: int, view: int, logits: np.ndarray) -> None:
        """Record one view's logits (C,) (copied: a row of a batch would keep the whole batch); a view
        seen before, or of a video already complete, is a duplicate."""
        views = self.pending.get(video, {}) if video not in self.done else None
        if views is None or view in views:
            self.duplicates += 1
            return
        self.pending[video] = views
        views[view] = np.array(logits, dtype=np.float32, copy=True)
        self.num_classes = len(logits)
        if len(views) == self.num_views(video):
            del self.pending[video]
            self.done.add(video)
            self.videos.append(video)
            self.counts.append(len(views))
            self.scores.append(_combine(views, self.method, self.multi_label))

    def result(self, info: Dict[str, float]) -> RankScores:
        """What this rank sends: combined videos and the rows of the views still pending."""
        keys = [(video, view) for video, views in self.pending.items() for view in views]
        empty = np.zeros((0, self.num_classes), np.float32)
        return RankScores(
            videos=np.array(self.videos, dtype=np.int64), counts=np.array(self.counts, dtype=np.int64),
            scores=np.stack(self.scores) if self.scores else empty,
            view_keys=np.array(keys, dtype=np.int64).reshape(-1, 2),
            view_logits=np.stack([self.pending[v][w] for v, w in keys]) if keys else empty,
            duplicates=self.duplicates, info=info)


def _combine(views: Dict[int, np.ndarray], method: str, multi_label: bool) -> np.ndarray:
    """One video's score (C,) from {view: logits (C,)}, in view order wherever it is computed."""
    logits = torch.from_numpy(np.stack([views[k] for k in sorted(views)]))  # (V, C)
    return combine_views(logits, method, multi_label).numpy()


def merge_rank_scores(parts: Sequence[RankScores], num_videos: int, method: str, multi_label: bool = False
                      ) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """Per-video scores (N, C) (NaN rows: videos without any view), view counts (N,) and the number
    of duplicate views dropped, from every rank's share. A video combined on one rank counts once;
    its views arriving from elsewhere (a padded sampler) are duplicates."""
    num_classes = max((p.scores.shape[1] for p in parts), default=0)
    scores = torch.full((num_videos, num_classes), float("nan"))
    counts = torch.zeros(num_videos, dtype=torch.long)
    duplicates = sum(p.duplicates for p in parts)
    for part in parts:
        for video, count, row in zip(part.videos.tolist(), part.counts.tolist(), part.scores, strict=True):
            if counts[video]:
                duplicates += count
                continue
            scores[video], counts[video] = torch.from_numpy(row), count
    loose: Dict[int, Dict[int, np.ndarray]] = {}
    for part in parts:
        for (video, view), row in zip(part.view_keys.tolist(), part.view_logits, strict=True):
            if counts[video] or view in loose.get(video, {}):
                duplicates += 1
                continue
            loose.setdefault(video, {})[view] = row
    for video, views in loose.items():
        scores[video], counts[video] = torch.from_numpy(_combine(views, method, multi_label)), len(views)
    return scores, counts, duplicates


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int
                           ) -> Dict[str, object]:
    """Top-1/top-5 accuracy (%; top-5 only with more than 5 classes), per-class accuracy (%, NaN for
    absent classes), mean class accuracy and the confusion matrix (rows: true, columns: predicted)
    of ``scores`` (N, C) vs ``labels`` (N,)."""
    n = labels.numel()
    ks = reported_topk(num_classes)
    correct = topk_correct(scores, labels, ks) if n else (0,) * len(ks)
    pred = scores.argmax(dim=1) if n else labels
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels, pred), torch.ones_like(labels), accumulate=True)
    support = confusion.sum(dim=1).double()
    per_class = (confusion.diagonal().double() / support * 100).tolist()  # NaN where support is 0
    present = [a for a in per_class if not math.isnan(a)]
    return {**{f"top{k}": 100.0 * c / max(n, 1) for k, c in zip(ks, correct, strict=True)},
            "mean_class_acc": sum(present) / max(len(present), 1), "per_class_acc": per_class,
            "confusion": confusion, "num_videos": n}


def multilabel_metrics(scores: torch.Tensor, targets: torch.Tensor) -> Dict[str, object]:
    """Multi-label metrics of ``scores`` (N, C) vs multi-hot ``targets`` (N, C): each class's average
    precision over the videos (%, ``per_class_ap``; None for a class no video has, left out of the
    mean and counted in ``classes_without_positives``), their mean ``mAP``, the videos per class
    (``positives``) and top-1/top-5 (% of videos whose best 1 / 5 classes hold one of theirs)."""
    n, num_classes = targets.shape
    ap = [average_precision(scores[:, c], targets[:, c]) for c in range(num_classes)]
    per_class = [None if math.isnan(a) else 100.0 * a for a in ap]
    present = [a for a in per_class if a is not None]
    ks = reported_topk(num_classes)
    correct = topk_correct(scores, targets, ks) if n else (0,) * len(ks)
    return {**{f"top{k}": 100.0 * c / max(n, 1) for k, c in zip(ks, correct, strict=True)},
            "mAP": sum(present) / max(len(present), 1), "per_class_ap": per_class,
            "classes_without_positives": num_classes - len(present),
            "positives": [int(p) for p in targets.sum(dim=0).tolist()], "num_videos": n}


def _label_json(label: torch.Tensor):
    """A video's label for the predictions file: its class index, or the list of them (multi-hot)."""
    return torch.nonzero(label > 0.5).flatten().tolist() if label.dim() else int(label)


def write_predictions(path: str, names: List[str], labels: torch.Tensor, scores: torch.Tensor,
                      counts: torch.Tensor) -> None:
    """One JSON line per video: id, name, label (a list of them when ``labels`` are multi-hot (N, C)),
    prediction (the best class), number of views and class scores."""
    with atomic_open(path) as f:
        for i, name in enumerate(names):
            if counts[i] == 0:
                continue
            row = scores[i]
            f.write(dumps({"video_index": i, "video": name, "label": _label_json(labels[i]),
                           "pred": int(row.argmax()), "num_views": int(counts[i]),
                           "scores": [round(float(s), 6) for s in row]}) + "\n")  # null: not finite


@torch.no_grad()
def run_views(model: torch.nn.Module, loader, device: torch.device, mean, std, precision: str = "none",
              desc: str = "eval", log_period: int = 10, method: str = "softmax", multi_label: bool = False
              ) -> RankScores:
    """This rank's views over ``loader``, each video's combined where this rank has them all, plus
    its loss sum (cross-entropy, or with ``multi_label`` the clip's binary cross-entropy averaged
    over classes, as training computes them), clips and skipped (``valid`` False) views."""
    was_training = model.training
    model.eval()
    collector = ViewCollector(loader.dataset.num_views, method, multi_label)
    loss_sum, clips, skipped = 0.0, 0, 0
    with Progress(len(loader), desc, log_period) as progress:
        for batch in loader:
            valid = batch.get("valid", torch.ones_like(batch["video_index"], dtype=torch.bool))
            x = normalize(batch["frames"].to(device, non_blocking=True), mean, std)  # (B, C, T, H, W)
            with autocast(device, precision):
                logits = model(x).float().cpu()  # (B, num_classes)
            labels = batch["label"]
            keep = valid.bool()
            skipped += int((~keep).sum())
            if keep.any():
                loss_sum += float(_loss_sum(logits[keep], labels[keep], multi_label))
                clips += int(keep.sum())
            rows = logits.numpy()  # (B, num_classes)
            for j in torch.nonzero(keep).flatten().tolist():
                collector.add(int(batch["video_index"][j]), int(batch["view_index"][j]), rows[j])
            progress.update(1)
    model.train(was_training)
    return collector.result({"loss_sum": loss_sum, "clips": clips, "skipped_views": skipped})


def _loss_sum(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """Summed over the clips: cross-entropy, or binary cross-entropy averaged over the classes."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, labels.float(), reduction="none").mean(dim=1).sum()
    return F.cross_entropy(logits, labels, reduction="sum")


def evaluate(model: torch.nn.Module, loader, device: torch.device, cfg, split: str,
             output_dir: Optional[str] = None, class_names: Optional[List[str]] = None) -> Dict[str, object]:
    """Evaluate ``model`` on every view of ``loader`` (all ranks), combine views per video with
    TEST.ENSEMBLE_METHOD and return metrics (``multilabel_metrics`` with DATA.MULTI_LABEL); with
    ``output_dir`` rank 0 also writes ``{split}_predictions.jsonl`` and (single-label only) the
    confusion matrix ``{split}_confusion.png`` / ``.csv``, its classes named by ``class_names``
    (default: the dataset's).

    Only rank 0 receives the ranks' scores and returns every metric; the other ranks return the
    scalar ones (``summary``), broadcast from rank 0, so that every rank can act on the result."""
    start = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # gpu_mem_mb: this evaluation's peak
    share = run_views(model, loader, device, cfg.DATA.MEAN, cfg.DATA.STD, cfg.TRAIN.MIXED_PRECISION,
                      desc=split, log_period=cfg.LOG_PERIOD, method=cfg.TEST.ENSEMBLE_METHOD,
                      multi_label=cfg.DATA.MULTI_LABEL)
    parts = du.gather_object(share)
    metrics = None
    if parts is not None:
        metrics = _score(parts, loader.dataset, cfg, split, time.perf_counter() - start, device)
        if output_dir:
            _save_outputs(metrics, loader.dataset, output_dir, split,
                          class_names or getattr(loader.dataset, "class_names", None))
    scalars = du.broadcast_object(summary(metrics) if metrics is not None else None)
    return metrics if metrics is not None else scalars


def _score(parts: Sequence[RankScores], dataset, cfg, split: str, seconds: float, device: torch.device
           ) -> Dict[str, object]:
    """Metrics of every rank's share (rank 0); warns about duplicate, skipped and incomplete views."""
    num_videos, multi_label = dataset.num_videos, cfg.DATA.MULTI_LABEL
    scores, counts, duplicates = merge_rank_scores(parts, num_videos, cfg.TEST.ENSEMBLE_METHOD, multi_label)
    if duplicates:
        logger.warning("%s: %d views arrived more than once (a padded sampler?); each was counted once",
                       split, duplicates)
    targets = [dataset.video_target(i) for i in range(num_videos)]
    labels = torch.stack(targets) if multi_label else torch.tensor(targets, dtype=torch.long)  # (N, C) or (N,)
    expected = torch.tensor([dataset.num_views(i) for i in range(num_videos)], dtype=torch.long)
    seen = counts > 0
    incomplete = int(((counts < expected) & seen).sum())
    if incomplete:
        logger.warning("%s: %d videos had fewer views than expected; scored with the views present",
                       split, incomplete)
    metrics = (multilabel_metrics(scores[seen], labels[seen]) if multi_label
               else classification_metrics(scores[seen], labels[seen], dataset.num_classes))
    metrics["non_finite_videos"] = int((~torch.isfinite(scores[seen])).any(dim=1).sum())  # NaN/inf weights
    loss_sum, clips, skipped_views = (sum(p.info[k] for p in parts) for k in ("loss_sum", "clips",
                                                                               "skipped_views"))
    metrics.update(loss=loss_sum / max(clips, 1), num_views=int(counts.sum()), skipped_views=skipped_views,
                   skipped_videos=int((~seen).sum()), incomplete_videos=incomplete, time=seconds,
                   clips_per_s=(clips + skipped_views) / max(seconds, 1e-9), gpu_mem_mb=gpu_memory_mb(device),
                   scores=scores, counts=counts, labels=labels)
    if skipped_views or metrics["skipped_videos"]:
        logger.warning("%s: %d unreadable views skipped; %d videos had no readable view and are left "
                       "out of the metrics", split, skipped_views, metrics["skipped_videos"])
    top5 = f" top5 {metrics['top5']:.2f}" if "top5" in metrics else ""
    if multi_label:
        without = metrics["classes_without_positives"]
        left_out = f" ({without} classes without a positive video left out)" if without else ""
        logger.info("%s: mAP %.2f%s top1 %.2f%s over %d videos (%d views), loss %.4f", split, metrics["mAP"],
                    left_out, metrics["top1"], top5, metrics["num_videos"], metrics["num_views"], metrics["loss"])
        return metrics
    logger.info("%s: top1 %.2f%s mean class acc %.2f over %d videos (%d views), loss %.4f", split,
                metrics["top1"], top5, metrics["mean_class_acc"], metrics["num_videos"], metrics["num_views"],
                metrics["loss"])
    return metrics


def _save_outputs(metrics: Dict[str, object], dataset, output_dir: str, split: str,
                  class_names: Optional[List[str]]) -> None:
    """``{split}_predictions.jsonl`` and ``{split}_confusion.png`` / ``.csv`` (rank 0; no confusion
    matrix for multi-label)."""
    videos = [dataset.video_name(i) for i in range(dataset.num_videos)]
    write_predictions(os.path.join(output_dir, f"{split}_predictions.jsonl"), videos, metrics["labels"],
                      metrics["scores"], metrics["counts"])
    if "confusion" not in metrics:
        return
    title = (f"{split}: top-1 {metrics['top1']:.2f}% over {metrics['num_videos']} videos "
             "(rows: true class, normalised)")
    stem = os.path.join(output_dir, f"{split}_confusion")
    save_confusion_png(metrics["confusion"], f"{stem}.png", class_names, title=title)
    save_confusion_csv(metrics["confusion"], f"{stem}.csv", class_names)


def evaluation_class_names(cfg, dataset, stored: Optional[List[str]] = None,
                           datasets: Iterable[str] = ()) -> ClassNames:
    """The names an evaluation report gives the classes: the test data's own (its class list file),
    else those stored with the weights, else a guess from the class count, never made for a
    video_list or synthetic set (TEST.DATASET or any of ``datasets``, the model's)."""
    if dataset.class_names:
        where = (os.path.join(cfg.DATA.PATH_TO_DATA_DIR, dataset.class_list) if dataset.class_list
                 else f"{dataset.name} dataset")
        return ClassNames(list(dataset.class_names), f"{dataset.split} data ({where})")
    if stored and len(stored) == dataset.num_classes:
        return ClassNames(list(stored), CHECKPOINT)
    return guess_class_names(dataset.num_classes, {cfg.TEST.DATASET, *datasets})


def summary(metrics: Dict[str, object]) -> Dict[str, float]:
    """The scalar entries of ``metrics`` (for stats.jsonl and TensorBoard)."""
    keys = ("top1", "top5", "mean_class_acc", "mAP", "classes_without_positives", "loss", "num_videos",
            "num_views", "skipped_views", "skipped_videos", "non_finite_videos", "time", "clips_per_s", "gpu_mem_mb")
    return {k: metrics[k] for k in keys if k in metrics}


def per_class_table(metrics: Dict[str, object], class_names: Optional[List[str]]) -> List[Dict]:
    """[{class, acc, support}] for every class (for the test report); ``acc`` is None (JSON null) for
    a class without a test video."""
    conf = metrics["confusion"]
    names = class_names or [str(i) for i in range(conf.shape[0])]
    return [{"class": names[i], "acc": finite_or_none(metrics["per_class_acc"][i]), "support": int(conf[i].sum())}
            for i in range(conf.shape[0])]


def per_class_ap_table(metrics: Dict[str, object], class_names: Optional[List[str]]) -> List[Dict]:
    """[{class, ap, positives}] for every class of a multi-label test (ap None: no positive video)."""
    aps = metrics["per_class_ap"]
    names = class_names or [str(i) for i in range(len(aps))]
    return [{"class": names[i], "ap": aps[i], "positives": metrics["positives"][i]} for i in range(len(aps))]
