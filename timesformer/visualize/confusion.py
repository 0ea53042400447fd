"""Drawing a confusion matrix (the evaluator saves one per evaluated split)."""
from typing import List, Optional

import torch


def confusion_figure(confusion: torch.Tensor, class_names: Optional[List[str]] = None, title: str = ""):
    """The row-normalised confusion matrix (K, K) as a matplotlib Figure, titled (tick labels only
    when there are few classes)."""
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
    ax.set_title(title or "confusion matrix (rows: true class, normalised)")
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
    return fig


def save_confusion_png(confusion: torch.Tensor, path: str, class_names: Optional[List[str]] = None,
                       title: str = "") -> None:
    """Draw :func:`confusion_figure` into a PNG."""
    import matplotlib.pyplot as plt

    fig = confusion_figure(confusion, class_names, title)
    fig.savefig(path, dpi=100)
    plt.close(fig)
