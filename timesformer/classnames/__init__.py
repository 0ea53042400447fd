"""Class-name lists shipped with the package, in the label-index order of the released checkpoints.

``kinetics400.txt`` and ``kinetics600.txt`` are the classes sorted alphabetically (Python string
order, so "passing American ..." comes before "passing american ..."), as in the Hugging Face
``id2label`` of ``facebook/timesformer-*-finetuned-k400/k600``; ``ssv2.txt`` is the 174 templates in
the order of Something-Something-V2's ``labels.json`` (index 0 "Approaching something with your
camera"). One name per line.
"""
import json
import os
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

_HERE = os.path.dirname(os.path.abspath(__file__))

# Accepted short names -> file shipped in this folder.
BUILTIN: Dict[str, str] = {
    "kinetics400": "kinetics400.txt", "k400": "kinetics400.txt", "kinetics": "kinetics400.txt",
    "kinetics600": "kinetics600.txt", "k600": "kinetics600.txt",
    "ssv2": "ssv2.txt", "something-something-v2": "ssv2.txt",
}
# Number of classes -> built-in list, to name the classes of a checkpoint that carries no names.
BY_NUM_CLASSES: Dict[int, str] = {400: "kinetics400", 600: "kinetics600", 174: "ssv2"}
TITLES: Dict[str, str] = {"kinetics400": "Kinetics-400", "kinetics600": "Kinetics-600",
                          "ssv2": "Something-Something-V2"}
# Datasets of one's own classes (TRAIN.DATASET / TEST.DATASET): a model trained on one is never given a
# built-in list because its class count happens to be 400, 600 or 174.
OWN_CLASS_DATASETS = ("video_list", "synthetic")
CHECKPOINT = "checkpoint"  # the source of names stored in the weights (class_names, id2label)


@dataclass(frozen=True)
class ClassNames:
    """Class names in label order (None: the classes are unnamed and shown as their indices) and
    where they came from, as outputs state it (``class_names_source``): "checkpoint",
    "--class-names FILE", "test data (FILE)", "guessed from the class count (400: Kinetics-400)", "none"."""

    names: Optional[List[str]]
    source: str


def _from_json(path: str) -> List[str]:
    """A JSON list of names, a {index: name} map (HF id2label) or a {name: index} map (SSv2 labels)."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict) and "id2label" in data:  # a Hugging Face config.json
        data = data["id2label"]
    if isinstance(data, list):
        return [str(x) for x in data]
    if isinstance(data, dict) and data:
        if all(str(k).lstrip("-").isdigit() for k in data):
            pairs = {int(k): str(v) for k, v in data.items()}
        elif all(str(v).lstrip("-").isdigit() for v in data.values()):
            pairs = {int(v): str(k) for k, v in data.items()}
        else:
            pairs = {}
        if sorted(pairs) == list(range(len(pairs))) and pairs:
            return [pairs[i] for i in range(len(pairs))]
    raise ValueError(f"class-name file {path}: expected a JSON list of names, or a map between "
                     "indices 0..N-1 and names (like a Hugging Face id2label or SSv2 labels.json)")


def load_class_names(name_or_path: str) -> List[str]:
    """Class names in label-index order from a built-in name (k400, k600, ssv2), a text file with one
    name per line, or a JSON file (list, id2label map, or name->index map)."""
    key = name_or_path.strip().lower()
    if key in BUILTIN:
        path = os.path.join(_HERE, BUILTIN[key])
    elif os.path.isfile(name_or_path):
        path = name_or_path
    else:
        raise ValueError(f"class names {name_or_path!r}: not a file and not one of the built-in lists "
                         f"{sorted(BUILTIN)}; pass a text file with one class name per line")
    if path.endswith(".json"):
        names = _from_json(path)
    else:
        with open(path, encoding="utf-8") as f:
            names = [ln.rstrip("\r\n") for ln in f if ln.strip()]
    if not names:
        raise ValueError(f"class-name file {path} holds no names")
    return names


def class_names_for(num_classes: int) -> List[str]:
    """The built-in list with ``num_classes`` names (400, 600, 174), else ``[]``."""
    name = BY_NUM_CLASSES.get(num_classes)
    return load_class_names(name) if name else []


def guess_class_names(num_classes: int, datasets: Iterable[str] = ()) -> ClassNames:
    """The built-in list with ``num_classes`` names, said to be a guess; none (labels shown as numbers)
    when there is no such list or when any of ``datasets`` (the model's TRAIN.DATASET / TEST.DATASET)
    holds one's own classes (OWN_CLASS_DATASETS)."""
    own = sorted(set(datasets) & set(OWN_CLASS_DATASETS))
    if own:
        return ClassNames(None, f"none (a {own[0]} dataset's classes: not guessed from the class count; "
                                "pass --class-names or keep the data folder's classnames.txt)")
    key = BY_NUM_CLASSES.get(num_classes)
    if key is None:
        return ClassNames(None, "none")
    return ClassNames(load_class_names(key), f"guessed from the class count ({num_classes}: {TITLES[key]})")
