"""Synthetic videos for the quick start and tests: real mp4 files whose label needs time to see.

On first use, DATA.PATH_TO_DATA_DIR receives ``{train,val,test}.csv``, ``classnames.txt`` and
64x64, 32-frame, 30 fps H.264 clips of one square that moves up, moves down, grows or shrinks.
The classes come in time-reversed pairs and the square's position and size are spread the same way
in every class, so no single frame (nor an order-free average of frames, as in space-only attention)
tells the label. Generation is deterministic; DATA.SYNTHETIC_NUM_VIDEOS training videos, a quarter
as many (at least 8) for val and for test.
"""
import json
import os
import shutil
from typing import List, Optional, Tuple

import numpy as np

from .base import AnnotationError, VideoRecord, VideoDataset, register_dataset
from .csv_utils import parse_number, read_rows

CLASSES = ["moving up", "moving down", "growing", "shrinking"]
SIZE, LENGTH, FPS, VERSION = 64, 32, 30, 3
SEEDS = {"train": 0, "val": 1, "test": 2}
MARKER = "synthetic.json"


def split_sizes(num_videos: int) -> dict:
    """Videos per split for DATA.SYNTHETIC_NUM_VIDEOS = ``num_videos``."""
    other = max(8, num_videos // 4)
    return {"train": num_videos, "val": other, "test": other}


def render(label: int, rng: np.random.Generator) -> np.ndarray:
    """One clip (LENGTH, SIZE, SIZE, 3) uint8 of class ``label``.

    "moving down" is drawn as a "moving up" clip played backwards and "shrinking" as a reversed
    "growing" one, so each pair has exactly the same frames, only in the opposite order.
    """
    frames = np.empty((LENGTH, SIZE, SIZE, 3), np.uint8)
    frames[:] = rng.integers(0, 60, size=3, dtype=np.uint8)
    color = rng.integers(150, 256, size=3, dtype=np.uint8)
    t = np.arange(LENGTH) / (LENGTH - 1)
    if label in (0, 1):  # a square moving up by `travel` pixels, inside the frame
        side, travel = int(rng.integers(10, 17)), rng.uniform(30, SIZE - 16)
        x, y0 = int(rng.integers(0, SIZE - side)), rng.uniform(travel, SIZE - side)
        for i, y in enumerate(y0 - travel * t):
            frames[i, int(y):int(y) + side, x:x + side] = color
    else:  # a square growing around a fixed centre
        s0, grow = rng.uniform(6, 14), rng.uniform(16, 24)
        cy, cx = rng.uniform(22, 42, size=2)
        for i, side in enumerate(s0 + grow * t):
            y, x, h = int(cy - side / 2), int(cx - side / 2), int(round(side))
            frames[i, max(y, 0):y + h, max(x, 0):x + h] = color
    return frames[::-1].copy() if label in (1, 3) else frames


def write_mp4(path: str, frames: np.ndarray, fps: int = FPS) -> None:
    """Encode (T, H, W, 3) uint8 frames as H.264 mp4."""
    import av

    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def generate(root: str, num_videos: int) -> None:
    """Write the dataset into ``root`` unless a complete one with the same size is there."""
    spec = {"num_videos": num_videos, "version": VERSION}
    marker = os.path.join(root, MARKER)
    if os.path.isfile(marker):
        with open(marker) as f:
            if json.load(f) == spec:
                return
    tmp = f"{root.rstrip(os.sep)}.tmp-{os.getpid()}"
    os.makedirs(os.path.join(tmp, "videos"), exist_ok=True)
    for split, count in split_sizes(num_videos).items():
        rng = np.random.default_rng(SEEDS[split])
        labels = rng.permutation(np.arange(count) % len(CLASSES))
        lines = []
        for k, label in enumerate(labels):
            name = f"videos/{split}_{k:05d}.mp4"
            write_mp4(os.path.join(tmp, name), render(int(label), rng))
            lines.append(f"{name} {label}\n")
        with open(os.path.join(tmp, f"{split}.csv"), "w") as f:
            f.writelines(lines)
    with open(os.path.join(tmp, "classnames.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    with open(os.path.join(tmp, MARKER), "w") as f:
        json.dump(spec, f)
    # Move file by file (atomic each; the marker last) so that concurrent ranks never see half files.
    os.makedirs(os.path.join(root, "videos"), exist_ok=True)
    names = [os.path.join("videos", n) for n in sorted(os.listdir(os.path.join(tmp, "videos")))]
    for name in names + [f"{s}.csv" for s in SEEDS] + ["classnames.txt", MARKER]:
        os.replace(os.path.join(tmp, name), os.path.join(root, name))
    shutil.rmtree(tmp, ignore_errors=True)


@register_dataset("synthetic")
class Synthetic(VideoDataset):
    """The generated dataset (4 classes); Kinetics-style sampling, flip allowed (labels survive it)."""

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Generate on first use, then parse ``{split}.csv`` (paths relative to the data folder)."""
        root = self.cfg.DATA.PATH_TO_DATA_DIR
        if not root:
            raise AnnotationError("the synthetic dataset needs DATA.PATH_TO_DATA_DIR: a folder to write "
                                  "its videos into (e.g. ./data/synthetic)")
        generate(root, self.cfg.DATA.SYNTHETIC_NUM_VIDEOS)
        file = self.annotation_path(f"{self.split}.csv")
        records = [VideoRecord(os.path.join(root, path), parse_number(file, n, label), name=path)
                   for n, (path, label) in read_rows(file, " ")]
        return records, list(CLASSES)
