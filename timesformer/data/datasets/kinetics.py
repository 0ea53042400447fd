"""Kinetics-400/600: ``{train,val,test}.csv`` under DATA.PATH_TO_DATA_DIR, lines ``path label``."""
from typing import List, Optional, Tuple

from .base import VideoDataset
from .csv_utils import parse_number, read_rows
from .records import VideoRecord, register_dataset


@register_dataset("kinetics")
class Kinetics(VideoDataset):
    """Kinetics (and any dataset in its CSV format); flip on, Kinetics-style clip sampling."""

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse ``{split}.csv``: a video path (under DATA.PATH_PREFIX) and an integer label per line."""
        file = self.annotation_path(f"{self.split}.csv")
        records = [VideoRecord(self.video_path(path), parse_number(file, n, label), name=path, source=f"{file}:{n}")
                   for n, (path, label) in read_rows(file, self.cfg.DATA.PATH_LABEL_SEPARATOR)]
        return records, None
