"""Multi-view evaluation: collect every view once across ranks, combine per video, score, save.

The pure functions (``combine_views``, ``video_scores``, ``classification_metrics``) are tested
alone; ``evaluate`` runs a model over a loader and ties them together.
"""
import json
import logging
import math
import os
import time
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from timesformer.utils import distributed as du
from timesformer.utils.meters import gpu_memory_mb, topk_correct
from timesformer.utils.progress import Progress

logger = logging.getLogger(__name__)

ENSEMBLE_METHODS = ("softmax", "sum", "max")
ViewKey = Tuple[int, int]  # (video_index, view_index)


def combine_views(logits: torch.Tensor, method: str) -> torch.Tensor:
    """One video's score (C,) from its views' logits (V, C): mean softmax, summed logits or max softmax."""
    if method == "softmax":
        return logits.float().softmax(dim=1).mean(dim=0)
    if method == "sum":
        return logits.float().sum(dim=0)
    if method == "max":
        return logits.float().softmax(dim=1).max(dim=0).values
    raise ValueError(f"TEST.ENSEMBLE_METHOD = {method!r}; expected one of {ENSEMBLE_METHODS}")


def merge_views(parts: Sequence[Dict[ViewKey, torch.Tensor]]) -> Tuple[Dict[ViewKey, torch.Tensor], int]:
    """Merge per-rank {(video, view): logits} dicts; returns (merged, number of duplicate views dropped)."""
    merged: Dict[ViewKey, torch.Tensor] = {}
    duplicates = 0
    for part in parts:
        for key, value in part.items():
            if key in merged:
                duplicates += 1
                continue
            merged[key] = value
    return merged, duplicates


def video_scores(views: Dict[ViewKey, torch.Tensor], num_videos: int, method: str
                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per-video scores (N, C) (rows of videos without any view are NaN) and view counts (N,)."""
    per_video: Dict[int, List[Tuple[int, torch.Tensor]]] = {}
    for (vid, view), logit in views.items():
        per_video.setdefault(vid, []).append((view, logit))
    num_classes = next(iter(views.values())).numel() if views else 0
    scores = torch.full((num_videos, num_classes), float("nan"))
    counts = torch.zeros(num_videos, dtype=torch.long)
    for vid, items in per_video.items():
        items.sort(key=lambda x: x[0])
        scores[vid] = combine_views(torch.stack([logit for _, logit in items]), method)  # (V, C) -> (C,)
        counts[vid] = len(items)
    return scores, counts


def classification_metrics(scores: torch.Tensor, labels: torch.Tensor, num_classes: int
                           ) -> Dict[str, object]:
    """Top-1/top-5 accuracy (%), per-class accuracy (%, NaN for absent classes), mean class accuracy
    and the confusion matrix (rows: true, columns: predicted) of ``scores`` (N, C) vs ``labels`` (N,)."""
    n = labels.numel()
    top1, top5 = topk_correct(scores, labels, (1, 5)) if n else (0, 0)
    pred = scores.argmax(dim=1) if n else labels
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels, pred), torch.ones_like(labels), accumulate=True)
    support = confusion.sum(dim=1).double()
    per_class = (confusion.diagonal().double() / support * 100).tolist()  # NaN where support is 0
    present = [a for a in per_class if not math.isnan(a)]
    return {"top1": 100.0 * top1 / max(n, 1), "top5": 100.0 * top5 / max(n, 1),
            "mean_class_acc": sum(present) / max(len(present), 1), "per_class_acc": per_class,
            "confusion": confusion, "num_videos": n}


def save_confusion_png(confusion: torch.Tensor, path: str, class_names: Optional[List[str]] = None) -> None:
    """Draw the row-normalised confusion matrix as a PNG (tick labels only when there are few classes)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    c = confusion.double()
    norm = (c / c.sum(dim=1, keepdim=True).clamp(min=1)).numpy()
    k = norm.shape[0]
    size = min(4 + k * 0.4, 40)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    fig.colorbar(im, ax=ax, fraction=0.046)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 50:
        names = class_names or [str(i) for i in range(k)]
        ax.set_xticks(range(k), names, rotation=90)
        ax.set_yticks(range(k), names)
        if k <= 20:
            for i in range(k):
                for j in range(k):
                    if confusion[i, j]:
                        ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8,
                                color="white" if norm[i, j] > 0.5 else "black")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_predictions(path: str, names: List[str], labels: torch.Tensor, scores: torch.Tensor,
                      counts: torch.Tensor) -> None:
    """One JSON line per video: id, name, label, prediction, number of views and class scores."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for i, name in enumerate(names):
            if counts[i] == 0:
                continue
            row = scores[i]
            f.write(json.dumps({"video_index": i, "video": name, "label": int(labels[i]),
                                "pred": int(row.argmax()), "num_views": int(counts[i]),
                                "scores": [round(float(s), 6) for s in row]}) + "\n")
    os.replace(tmp, path)


def _autocast(device: torch.device, precision: str):
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)


@torch.no_grad()
def run_views(model: torch.nn.Module, loader, device: torch.device, mean, std, precision: str = "none",
              desc: str = "eval", log_period: int = 10) -> Tuple[Dict[ViewKey, torch.Tensor], Dict]:
    """This rank's {(video, view): logits (C,)} over ``loader``, plus its loss sum and skipped views."""
    from timesformer.data import normalize

    was_training = model.training
    model.eval()
    views: Dict[ViewKey, torch.Tensor] = {}
    loss_sum, clips, skipped = 0.0, 0, 0
    with Progress(len(loader), desc, log_period) as progress:
        for batch in loader:
            valid = batch.get("valid", torch.ones_like(batch["label"], dtype=torch.bool))
            x = normalize(batch["frames"].to(device, non_blocking=True), mean, std)  # (B, C, T, H, W)
            with _autocast(device, precision):
                logits = model(x).float().cpu()  # (B, C)
            labels = batch["label"]
            keep = valid.bool()
            skipped += int((~keep).sum())
            if keep.any():
                loss_sum += float(F.cross_entropy(logits[keep], labels[keep], reduction="sum"))
                clips += int(keep.sum())
            for j in torch.nonzero(keep).flatten().tolist():
                views[(int(batch["video_index"][j]), int(batch["view_index"][j]))] = logits[j]
            progress.update(1)
    model.train(was_training)
    return views, {"loss_sum": loss_sum, "clips": clips, "skipped_views": skipped}


def evaluate(model: torch.nn.Module, loader, device: torch.device, cfg, split: str,
             output_dir: Optional[str] = None) -> Dict[str, object]:
    """Evaluate ``model`` on every view of ``loader`` (all ranks), combine views per video with
    TEST.ENSEMBLE_METHOD and return metrics; with ``output_dir`` rank 0 also writes
    ``{split}_predictions.jsonl`` and ``{split}_confusion.png``."""
    dataset = loader.dataset
    start = time.perf_counter()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)  # gpu_mem_mb: this evaluation's peak
    views, info = run_views(model, loader, device, cfg.DATA.MEAN, cfg.DATA.STD,
                            cfg.TRAIN.MIXED_PRECISION, desc=split, log_period=cfg.LOG_PERIOD)
    parts = du.all_gather_object((views, info))
    merged, duplicates = merge_views([p[0] for p in parts])
    if duplicates:
        logger.warning("%s: %d views arrived more than once across ranks (a padded sampler?); each "
                       "was counted once", split, duplicates)
    num_videos = dataset.num_videos
    scores, counts = video_scores(merged, num_videos, cfg.TEST.ENSEMBLE_METHOD)
    labels = torch.tensor([dataset.video_label(i) for i in range(num_videos)], dtype=torch.long)
    expected = torch.tensor([dataset.num_views(i) for i in range(num_videos)], dtype=torch.long)
    seen = counts > 0
    incomplete = int(((counts < expected) & seen).sum())
    if incomplete:
        logger.warning("%s: %d videos had fewer views than expected; scored with the views present",
                       split, incomplete)
    metrics = classification_metrics(scores[seen], labels[seen], dataset.num_classes)
    metrics["non_finite_videos"] = int((~torch.isfinite(scores[seen])).any(dim=1).sum())  # NaN/inf weights
    loss_sum = sum(p[1]["loss_sum"] for p in parts)
    clips = sum(p[1]["clips"] for p in parts)
    skipped_views = sum(p[1]["skipped_views"] for p in parts)
    seconds = time.perf_counter() - start
    metrics.update(loss=loss_sum / max(clips, 1), num_views=len(merged), skipped_views=skipped_views,
                   skipped_videos=int((~seen).sum()), incomplete_videos=incomplete, time=seconds,
                   clips_per_s=(clips + skipped_views) / max(seconds, 1e-9), gpu_mem_mb=gpu_memory_mb(device))
    if skipped_views or metrics["skipped_videos"]:
        logger.warning("%s: %d unreadable views skipped; %d videos had no readable view and are left "
                       "out of the metrics", split, skipped_views, metrics["skipped_videos"])
    if output_dir and du.is_main_process():
        names = [dataset.video_name(i) for i in range(num_videos)]
        write_predictions(os.path.join(output_dir, f"{split}_predictions.jsonl"), names, labels, scores,
                          counts)
        save_confusion_png(metrics["confusion"], os.path.join(output_dir, f"{split}_confusion.png"),
                           getattr(dataset, "class_names", None))
    logger.info("%s: top1 %.2f top5 %.2f mean class acc %.2f over %d videos (%d views), loss %.4f",
                split, metrics["top1"], metrics["top5"], metrics["mean_class_acc"], metrics["num_videos"],
                metrics["num_views"], metrics["loss"])
    return metrics


def summary(metrics: Dict[str, object]) -> Dict[str, float]:
    """The scalar entries of ``metrics`` (for stats.jsonl and TensorBoard)."""
    keys = ("top1", "top5", "mean_class_acc", "loss", "num_videos", "num_views", "skipped_views",
            "skipped_videos", "time", "clips_per_s", "gpu_mem_mb")
    return {k: metrics[k] for k in keys if k in metrics}


def per_class_table(metrics: Dict[str, object], class_names: Optional[List[str]]) -> List[Dict]:
    """[{class, accuracy, support}] for every class (for the test report)."""
    conf = metrics["confusion"]
    names = class_names or [str(i) for i in range(conf.shape[0])]
    return [{"class": names[i], "acc": metrics["per_class_acc"][i], "support": int(conf[i].sum())}
            for i in range(conf.shape[0])]

