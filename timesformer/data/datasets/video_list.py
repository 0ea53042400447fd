"""Your own videos: ``{train,val,test}.csv`` lines ``path label`` (an index or a class name; with
DATA.MULTI_LABEL several, separated by commas: ``path a,b``)."""
import os
from typing import Dict, Iterator, List, Optional, Tuple, Union

from timesformer.errors import AnnotationError

from .base import VideoDataset
from .csv_utils import read_rows
from .records import VideoRecord, register_dataset

CLASS_NAMES = "classnames.txt"
LABEL_SEPARATOR = ","  # between the labels of a multi-label line


@register_dataset("video_list")
class VideoList(VideoDataset):
    """Videos or JPEG frame folders listed in a CSV, with class names from ``classnames.txt``.

    Without ``classnames.txt``, class-name labels are numbered in sorted order of the names found
    in ``train.csv`` (so every split agrees); integer labels are used as they are. With
    DATA.MULTI_LABEL a label may name several classes, ``a,b,c`` (no spaces; with
    DATA.PATH_LABEL_SEPARATOR "," the path is the first field and every later one a label).
    """

    class_list = CLASS_NAMES

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse ``{split}.csv`` and map each label to an index (a sorted tuple of them, multi-label)."""
        file = self.annotation_path(f"{self.split}.csv")
        class_names = self._class_names()
        index = {name: i for i, name in enumerate(class_names or [])}
        records = []
        for n, (path, label) in self._rows(file):
            where = f"{file}:{n}"
            if self.cfg.DATA.MULTI_LABEL:
                value: Union[int, Tuple[int, ...]] = tuple(sorted({self._index(where, name, index)
                                                                   for name in self._names(where, label)}))
            elif label not in index and LABEL_SEPARATOR in label:
                raise AnnotationError(f"{where}: label {label!r} names several classes; set DATA.MULTI_LABEL "
                                      f"True to train with several labels per video (a class whose name holds a "
                                      f"comma must be listed in {CLASS_NAMES})")
            else:
                value = self._index(where, label, index)
            records.append(VideoRecord(self.video_path(path), value, name=path, source=where))
        return records, class_names

    def _rows(self, file: str) -> Iterator[Tuple[int, List[str]]]:
        """(line number, [path, label]) of each line; a multi-label CSV "path,a,b" is split at its
        first comma, any other line at its last separator (the path may hold it)."""
        sep = self.cfg.DATA.PATH_LABEL_SEPARATOR
        first = self.cfg.DATA.MULTI_LABEL and sep == LABEL_SEPARATOR
        for n, (path, label) in read_rows(file, sep, first=first):
            if self.cfg.DATA.MULTI_LABEL and path.endswith(LABEL_SEPARATOR):
                raise AnnotationError(f"{file}:{n}: a space follows a comma in the labels of {path}{sep}{label!r}; "
                                      "write a video's labels without spaces, as 'a,b'")
            yield n, [path, label]

    @staticmethod
    def _names(where: str, label: str) -> List[str]:
        """The class names (or indices) of one multi-label field ``a,b,c``."""
        names = [name.strip() for name in label.split(LABEL_SEPARATOR)]
        if not all(names):
            raise AnnotationError(f"{where}: label {label!r} holds an empty class name; separate the names by "
                                  "single commas")
        return names

    def _index(self, where: str, label: str, index: Dict[str, int]) -> int:
        """One class name or integer label -> its index."""
        if label in index:
            return index[label]
        if label.isdigit():
            return int(label)
        raise AnnotationError(f"{where}: label {label!r} is neither an integer nor a class name of "
                              f"{CLASS_NAMES} / train.csv")

    def _class_names(self) -> Optional[List[str]]:
        listed = os.path.join(self.cfg.DATA.PATH_TO_DATA_DIR, CLASS_NAMES)
        if os.path.isfile(listed):
            lines: Dict[str, int] = {}  # name -> its line
            with open(listed) as f:
                for n, name in enumerate((line.strip() for line in f), 1):
                    if name in lines:
                        raise AnnotationError(f"{listed}:{n}: class name {name!r} is also on line {lines[name]}; "
                                              "list each class once")
                    if self.cfg.DATA.MULTI_LABEL and LABEL_SEPARATOR in name:
                        raise AnnotationError(f"{listed}:{n}: class name {name!r} holds a comma, which separates "
                                              "the labels of a video with DATA.MULTI_LABEL; rename the class")
                    lines.update({name: n} if name else {})
            return list(lines)
        train = self.annotation_path("train.csv")
        self.class_list = f"{train} (its class-name labels, sorted)"
        labels = [label for n, (_, label) in self._rows(train) for label in (
            self._names(f"{train}:{n}", label) if self.cfg.DATA.MULTI_LABEL else [label])]
        # single-label: a label with a comma is no class here (loading it says to set DATA.MULTI_LABEL)
        return sorted({label for label in labels if not label.isdigit() and LABEL_SEPARATOR not in label}) or None
