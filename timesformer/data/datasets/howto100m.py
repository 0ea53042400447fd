"""HowTo100M task classification: ``{train,val,test}.csv`` lines ``path label [duration_s]``."""
from typing import List, Optional, Tuple

from .base import VideoDataset
from .csv_utils import parse_number, read_rows
from .records import VideoRecord, register_dataset


@register_dataset("howto100m")
class HowTo100M(VideoDataset):
    """Long videos: a random clip in training; at test the clips that cover the video (cover.py).

    The optional third column (seconds) is checked against each test video's header: a video off
    by more than a clip is decoded to count its frames, with a warning naming it.
    """

    test_sampling = "cover"

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Parse ``{split}.csv`` (separator DATA.PATH_LABEL_SEPARATOR; no spaces inside paths)."""
        file = self.annotation_path(f"{self.split}.csv")
        records = []
        for n, fields in read_rows(file, self.cfg.DATA.PATH_LABEL_SEPARATOR, 2, 3):
            duration = parse_number(file, n, fields[2], float, "duration") if len(fields) == 3 else None
            records.append(VideoRecord(self.video_path(fields[0]), parse_number(file, n, fields[1]),
                                       name=fields[0], duration=duration, source=f"{file}:{n}"))
        return records, None
