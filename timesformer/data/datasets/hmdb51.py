"""HMDB51 from its official split files (``testTrainMulti_7030_splits/``): one
``<class>_test_split<N>.txt`` per class, N = DATA.OFFICIAL_SPLIT, lines ``video.avi id`` with id 1 for
training, 2 for testing and 0 for videos the split does not use. Classes are numbered in sorted order
of their names."""
import os
from typing import List, Optional, Tuple

from timesformer.errors import AnnotationError

from .base import VideoDataset
from .csv_utils import parse_number, read_rows
from .records import VideoRecord, register_dataset

SPLIT_IDS = {"train": 1, "val": 2, "test": 2}  # val reads the test videos: no official validation split


@register_dataset("hmdb51")
class HMDB51(VideoDataset):
    """HMDB51 videos ``{PATH_PREFIX}/{class}/{video}.avi`` (the class archives unpacked into one folder)."""

    annotation_folder = "the unpacked testTrainMulti_7030_splits folder"

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse every class's file of the split; keep the videos whose id is this split's."""
        root, suffix = self.cfg.DATA.PATH_TO_DATA_DIR, f"_test_split{self.cfg.DATA.OFFICIAL_SPLIT}.txt"
        files = sorted(f for f in os.listdir(root) if f.endswith(suffix)) if os.path.isdir(root) else []
        if not files:
            raise AnnotationError(f"hmdb51 {self.split}: no *{suffix} files in DATA.PATH_TO_DATA_DIR = {root!r}; "
                                  f"set it to {self.annotation_folder} (see DATASET.md)")
        names = [f[: -len(suffix)] for f in files]
        self.class_list = f"the *{suffix} files in {root}"
        records = []
        for label, (name, base) in enumerate(zip(names, files, strict=True)):
            file = os.path.join(root, base)
            for n, (video, kind) in read_rows(file, " "):
                kind_id = parse_number(file, n, kind, what="split id")
                if kind_id not in (0, 1, 2):
                    raise AnnotationError(f"{file}:{n}: split id {kind!r} of {video}; expected 1 (train), 2 (test) "
                                          "or 0 (unused)")
                if kind_id == SPLIT_IDS[self.split]:
                    path = f"{name}/{video}"
                    records.append(VideoRecord(self.video_path(path), label, name=path, source=f"{file}:{n}"))
        return records, names
