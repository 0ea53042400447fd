"""A confusion matrix of many classes (Kinetics' 400) that a person can read: the picture's size is
capped, the most confused classes are drawn named and the most frequent confusions are listed by
name; the CSV holds the whole matrix with the class names."""
import csv

import torch
from PIL import Image

from timesformer.classnames import load_class_names
from timesformer.engine.confusion import (
    confused_classes,
    confusion_figure,
    most_confused,
    save_confusion_csv,
    save_confusion_png,
)

K400 = load_class_names("k400")


def _kinetics_like_confusion() -> torch.Tensor:
    """400 classes, 10 test videos each, mostly right, with three planted confusions."""
    g = torch.Generator().manual_seed(0)
    conf = torch.diag(torch.full((400,), 8))
    wrong = torch.randint(0, 400, (400, 2), generator=g)
    for true, row in enumerate(wrong.tolist()):
        for pred in row:
            conf[true, pred] += 1
    conf[7, 300] += 6  # "arm wrestling" mistaken for "riding mule"
    conf[12, 13] += 5
    conf[150, 149] += 4
    return conf


def _texts(fig) -> str:
    """Every piece of text the figure draws: titles, tick labels, free text."""
    parts = [t.get_text() for t in fig.texts]
    for ax in fig.axes:
        parts += [ax.get_title()] + [t.get_text() for t in ax.get_xticklabels() + ax.get_yticklabels()]
    return "\n".join(parts)


def test_400_classes_are_readable(tmp_path):
    conf = _kinetics_like_confusion()
    assert most_confused(conf, 3) == [(7, 300, 6), (12, 13, 5), (150, 149, 4)]
    keep = confused_classes(conf, 40)
    assert len(keep) == 40 and {7, 300, 12, 13, 150, 149} <= set(keep) and keep == sorted(keep)
    fig = confusion_figure(conf, K400, title="test: top-1 80.00%")
    text = _texts(fig)
    assert f"{K400[7]} -> {K400[300]}: 6" in text and f"{K400[12]} -> {K400[13]}: 5" in text
    sub = fig.axes[1]
    labels = [t.get_text() for t in sub.get_yticklabels()]
    assert labels == [K400[i] for i in keep]
    assert not set(K400) & {t.get_text() for t in fig.axes[0].get_xticklabels()}  # the whole: indices only
    png = tmp_path / "c.png"
    save_confusion_png(conf, str(png), K400, title="test: top-1 80.00%")
    with Image.open(png) as im:
        assert max(im.size) <= 2400  # 4000 px of unreadable labels before


def test_the_csv_holds_the_whole_matrix_with_names(tmp_path):
    conf = _kinetics_like_confusion()
    path = tmp_path / "c.csv"
    save_confusion_csv(conf, str(path), K400)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", *K400] and len(rows) == 401
    assert rows[8][0] == K400[7] and int(rows[8][1 + 300]) == conf[7, 300]
    assert [[int(x) for x in r[1:]] for r in rows[1:]] == conf.tolist()
    save_confusion_csv(torch.tensor([[1, 2], [0, 3]]), str(path))  # unnamed classes: their indices
    assert path.read_text().splitlines() == ["true \\ predicted,0,1", "0,1,2", "1,0,3"]


def test_few_classes_are_drawn_in_full_with_counts():
    conf = torch.tensor([[3, 1], [0, 4]])
    fig = confusion_figure(conf, ["left", "right"], title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["left", "right"]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "3", "4"]
