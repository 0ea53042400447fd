"""Your own videos: ``{train,val,test}.csv`` lines ``path label`` (an index or a class name)."""
import os
from typing import Dict, List, Optional, Tuple

from .base import AnnotationError, VideoDataset, VideoRecord, register_dataset
from .csv_utils import read_rows

CLASS_NAMES = "classnames.txt"


@register_dataset("video_list")
class VideoList(VideoDataset):
    """Videos or JPEG frame folders listed in a CSV, with class names from ``classnames.txt``.

    Without ``classnames.txt``, class-name labels are numbered in sorted order of the names found
    in ``train.csv`` (so every split agrees); integer labels are used as they are.
    """

    class_list = CLASS_NAMES

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse ``{split}.csv`` and map each label to an index."""
        file = self.annotation_path(f"{self.split}.csv")
        rows = list(read_rows(file, self.cfg.DATA.PATH_LABEL_SEPARATOR))
        class_names = self._class_names()
        index = {name: i for i, name in enumerate(class_names or [])}
        records = []
        for n, (path, label) in rows:
            if label in index:
                value = index[label]
            elif label.isdigit():
                value = int(label)
            else:
                raise AnnotationError(f"{file}:{n}: label {label!r} is neither an integer nor a class "
                                      f"name of {CLASS_NAMES} / train.csv")
            records.append(VideoRecord(self.video_path(path), value, name=path, source=f"{file}:{n}"))
        return records, class_names

    def _class_names(self) -> Optional[List[str]]:
        listed = os.path.join(self.cfg.DATA.PATH_TO_DATA_DIR, CLASS_NAMES)
        if os.path.isfile(listed):
            lines: Dict[str, int] = {}  # name -> its line
            with open(listed) as f:
                for n, name in enumerate((line.strip() for line in f), 1):
                    if name in lines:
                        raise AnnotationError(f"{listed}:{n}: class name {name!r} is also on line {lines[name]}; "
                                              "list each class once")
                    lines.update({name: n} if name else {})
            return list(lines)
        train = self.annotation_path("train.csv")
        self.class_list = f"{train} (its class-name labels, sorted)"
        names = {label for _, (_, label) in read_rows(train, self.cfg.DATA.PATH_LABEL_SEPARATOR)
                 if not label.isdigit()}
        return sorted(names) or None
