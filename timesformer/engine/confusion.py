"""Confusion matrices a person can read and a program can load (the evaluator saves both per split).

Up to ``FULL_MAX`` classes the matrix is drawn in full, each row and column named (with the counts
in the cells up to ``COUNTS_MAX``). Above that (Kinetics' 400 classes) one picture of every cell
would be thousands of pixels of unreadable labels, so the figure, capped at ``MAX_INCHES`` a side,
shows the whole matrix unlabelled beside the sub-matrix of the ``FULL_MAX`` most confused classes,
named, and lists the most frequent confusions by name. The CSV always holds the whole matrix, its
header and first column the class names.
"""
import csv
from typing import List, Optional, Sequence, Tuple

import torch

FULL_MAX = 40  # classes drawn in full, named
COUNTS_MAX = 20  # classes whose cells show their counts
TOP_PAIRS = 12  # most frequent confusions listed by name
MAX_INCHES = 22  # the figure's longer side (at 100 dpi: 2200 px)


def _names(class_names: Optional[Sequence[str]], k: int) -> List[str]:
    return list(class_names) if class_names else [str(i) for i in range(k)]


def most_confused(confusion: torch.Tensor, top: int = TOP_PAIRS) -> List[Tuple[int, int, int]]:
    """The ``top`` most frequent confusions (true class, predicted class, count), off the diagonal,
    most frequent first (ties: lower true class, then lower predicted class first)."""
    off = confusion.clone().long()
    off.fill_diagonal_(0)
    flat = off.flatten()
    order = sorted((i for i in torch.nonzero(flat).flatten().tolist()), key=lambda i: (-int(flat[i]), i))
    k = confusion.shape[1]
    return [(i // k, i % k, int(flat[i])) for i in order[:top]]


def confused_classes(confusion: torch.Tensor, n: int = FULL_MAX) -> List[int]:
    """The ``n`` classes most involved in confusions (their row and column off-diagonal counts),
    in label order."""
    off = confusion.clone().long()
    off.fill_diagonal_(0)
    involvement = off.sum(dim=0) + off.sum(dim=1)  # (K,)
    ranked = sorted(range(len(involvement)), key=lambda i: (-int(involvement[i]), i))
    return sorted(ranked[:n])


def describe_pairs(confusion: torch.Tensor, class_names: Optional[Sequence[str]], top: int = TOP_PAIRS) -> List[str]:
    """'true -> predicted: n (p% of true)' lines of :func:`most_confused`."""
    names, support = _names(class_names, confusion.shape[0]), confusion.sum(dim=1)
    return [f"{names[t]} -> {names[p]}: {n} ({100 * n / max(int(support[t]), 1):.0f}% of {names[t]})"
            for t, p, n in most_confused(confusion, top)]


def _draw(ax, confusion: torch.Tensor, names: List[str], labelled: bool):
    """The row-normalised matrix on ``ax``; ``labelled``: tick labels (and counts for few classes)."""
    c = confusion.double()
    norm = (c / c.sum(dim=1, keepdim=True).clamp(min=1)).numpy()
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    k = len(names)
    if labelled:
        ax.set_xticks(range(k), names, rotation=90, fontsize=8 if k > COUNTS_MAX else 10)
        ax.set_yticks(range(k), names, fontsize=8 if k > COUNTS_MAX else 10)
    if k <= COUNTS_MAX:
        for i in range(k):
            for j in range(k):
                if confusion[i, j]:
                    ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if norm[i, j] > 0.5 else "black")
    return im


def confusion_figure(confusion: torch.Tensor, class_names: Optional[List[str]] = None, title: str = ""):
    """The row-normalised confusion matrix (K, K) as a matplotlib Figure (see the module docstring)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    k = confusion.shape[0]
    names = _names(class_names, k)
    heading = title or "confusion matrix (rows: true class, normalised)"
    if k <= FULL_MAX:
        size = min(4 + k * 0.35, MAX_INCHES)
        fig, ax = plt.subplots(figsize=(size, size))
        fig.colorbar(_draw(ax, confusion, names, labelled=True), ax=ax, fraction=0.046)
        ax.set_title(heading)
        fig.tight_layout()
        return fig
    fig, (whole, part) = plt.subplots(1, 2, figsize=(MAX_INCHES, MAX_INCHES * 0.6),
                                      gridspec_kw={"width_ratios": [1, 1.25]})
    _draw(whole, confusion, names, labelled=False)
    whole.set_title(f"all {k} classes (rows: true class, normalised)")
    keep = confused_classes(confusion, FULL_MAX)
    sub = confusion[keep][:, keep]
    im = _draw(part, sub, [names[i] for i in keep], labelled=True)
    part.set_title(f"the {len(keep)} classes most involved in confusions")
    fig.colorbar(im, ax=part, fraction=0.046)
    pairs = describe_pairs(confusion, class_names)
    fig.suptitle(heading, fontsize=14)
    fig.text(0.01, 0.01, "most frequent confusions (true -> predicted):\n" + "\n".join(pairs or ["none"]),
             fontsize=9, va="bottom", family="monospace")
    fig.tight_layout(rect=(0, 0.02 + 0.016 * (len(pairs) + 1), 1, 0.96))
    return fig


def save_confusion_png(confusion: torch.Tensor, path: str, class_names: Optional[List[str]] = None,
                       title: str = "") -> None:
    """Draw :func:`confusion_figure` into a PNG (at most MAX_INCHES x 100 pixels a side)."""
    import matplotlib.pyplot as plt

    fig = confusion_figure(confusion, class_names, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_confusion_csv(confusion: torch.Tensor, path: str, class_names: Optional[List[str]] = None) -> None:
    """The whole matrix as CSV: a header of the predicted classes' names, one row per true class
    starting with its name, the counts in between."""
    names = _names(class_names, confusion.shape[0])
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["true \\ predicted", *names])
        for name, row in zip(names, confusion.long().tolist(), strict=True):
            writer.writerow([name, *row])
