"""Meters: running averages of scalars, top-k accuracy of a batch, average precision of a class."""
from collections import deque
from typing import Any, Dict, Iterable, Optional, Tuple

import torch


class ScalarMeter:
    """A scalar's recent window (median/mean for logs) and its weighted average since reset."""

    def __init__(self, window: int = 20):
        self.window = deque(maxlen=window)
        self.total, self.count = 0.0, 0.0

    def add(self, value: float, weight: float = 1.0) -> None:
        """Record ``value`` with ``weight`` (e.g. the batch size)."""
        self.window.append(float(value))
        self.total += float(value) * weight
        self.count += weight

    @property
    def recent(self) -> float:
        """Mean of the recent window."""
        return sum(self.window) / len(self.window) if self.window else float("nan")

    @property
    def avg(self) -> float:
        """Weighted average since the last reset."""
        return self.total / self.count if self.count else float("nan")

    def reset(self) -> None:
        """Start a new average (e.g. a new epoch)."""
        self.window.clear()
        self.total, self.count = 0.0, 0.0

    def state_dict(self) -> Dict[str, Any]:
        """Window, total and count as plain numbers (a checkpoint holds them, to resume an epoch)."""
        return {"window": list(self.window), "total": self.total, "count": self.count}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        """Continue from :meth:`state_dict`'s numbers."""
        self.window.clear()
        self.window.extend(float(v) for v in state["window"])
        self.total, self.count = float(state["total"]), float(state["count"])


class MeterGroup:
    """Named ScalarMeters created on first use."""

    def __init__(self, window: int = 20):
        self.window = window
        self.meters: Dict[str, ScalarMeter] = {}

    def add(self, weight: float = 1.0, **values: float) -> None:
        """Record several named values with one weight."""
        for k, v in values.items():
            self.meters.setdefault(k, ScalarMeter(self.window)).add(v, weight)

    def recent(self) -> Dict[str, float]:
        """Each meter's recent mean."""
        return {k: m.recent for k, m in self.meters.items()}

    def avg(self) -> Dict[str, float]:
        """Each meter's average since reset."""
        return {k: m.avg for k, m in self.meters.items()}

    def reset(self) -> None:
        """Reset all meters."""
        for m in self.meters.values():
            m.reset()

    def state_dict(self) -> Dict[str, Dict[str, Any]]:
        """Every meter's state, by name."""
        return {k: m.state_dict() for k, m in self.meters.items()}

    def load_state_dict(self, state: Dict[str, Dict[str, Any]]) -> None:
        """Replace the meters by those of :meth:`state_dict`."""
        self.meters = {}
        for k, s in state.items():
            self.meters[k] = ScalarMeter(self.window)
            self.meters[k].load_state_dict(s)


def reported_topk(num_classes: int) -> Tuple[int, ...]:
    """The top-k accuracies worth reporting: top-1, and top-5 with more than 5 classes (with 5 or
    fewer it is 100% by construction)."""
    return (1, 5) if num_classes > 5 else (1,)


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, ks: Iterable[int] = (1, 5)
                 ) -> Tuple[int, ...]:
    """Number of rows of ``scores`` (N, C) whose label (N,) is among the top k, for each k; with
    multi-hot labels (N, C), whose top k hold at least one of the row's labels (multi-label top-1:
    the highest-scored class is one of the video's)."""
    c = scores.shape[1]
    kmax = min(max(ks), c)
    top = scores.topk(kmax, dim=1).indices  # (N, kmax)
    hit = labels.gather(1, top) > 0.5 if labels.dim() == 2 else top == labels.view(-1, 1)  # (N, kmax)
    return tuple(int(hit[:, :min(k, c)].any(dim=1).sum()) for k in ks)


def average_precision(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """Average precision of one class over N videos: the mean, over its positives, of the precision
    among the videos scored at least as high, tied scores counting as one threshold (scikit-learn's
    ``average_precision_score``, as PySlowFast's Charades mAP). NaN when no video is positive.

    scores: (N,) float; positives: (N,) of 0/1 (or bool)."""
    pos = positives.double() > 0.5
    if not pos.any():
        return float("nan")
    order = scores.double().argsort(descending=True)
    s, hit = scores.double()[order], pos[order].double()  # (N,) best first
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]  # the last video of each run of equal scores: one threshold each
    tp = hit.cumsum(0)[last]  # (thresholds,) positives scored at least this high
    seen = torch.arange(1, s.numel() + 1, dtype=torch.double)[last]  # videos scored at least this high
    new = torch.diff(tp, prepend=tp.new_zeros(1))  # positives reached at each threshold
    return float((new * tp / seen).sum() / tp[-1])


def gpu_memory_mb(device: torch.device) -> Optional[float]:
    """Peak CUDA memory allocated on ``device`` in MiB (None on CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2 ** 20
