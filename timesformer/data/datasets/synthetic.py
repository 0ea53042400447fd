"""Synthetic videos for the quick start and tests: real mp4 files whose label needs time to see.

On first use, DATA.PATH_TO_DATA_DIR receives ``{train,val,test}.csv``, ``classnames.txt`` and
64x64, 29-frame, 30 fps H.264 clips of a random texture that brightens or darkens. The two classes
have the same frames in opposite orders, so no single frame (nor an order-free average of frames,
as in space-only attention) tells them apart: space-only attention cannot beat 50%. Generation is
deterministic; DATA.SYNTHETIC_NUM_VIDEOS training videos, a quarter as many (at least 8) for val
and for test.
"""
import json
import os
import shutil
from typing import List, Optional, Tuple

import numpy as np

from timesformer.errors import AnnotationError

from .base import VideoDataset
from .csv_utils import parse_number, read_rows
from .records import VideoRecord, register_dataset

CLASSES = ["brightening", "darkening"]
# 29 frames: the quick start's clip (8 frames, every 4th) covers a video exactly, so the frames of a
# clip are the frames of its reversal's clip. With a longer video a clip could start at frame 0 of
# a brightening video but its mirror start never would, a brightness cue space-only attention found.
SIZE, LENGTH, FPS, VERSION = 64, 29, 30, 7
SEEDS = {"train": 0, "val": 1, "test": 2}
MARKER = "synthetic.json"


def split_sizes(num_videos: int) -> dict:
    """Videos per split for DATA.SYNTHETIC_NUM_VIDEOS = ``num_videos``."""
    other = max(8, num_videos // 4)
    return {"train": num_videos, "val": other, "test": other}


def render(label: int, rng: np.random.Generator) -> np.ndarray:
    """One clip (LENGTH, SIZE, SIZE, 3) uint8 of class ``label``: a static random texture whose
    brightness rises steadily by 80 levels ("brightening") or falls ("darkening").

    "darkening" is drawn as a "brightening" clip played backwards, so the two classes have exactly
    the same frames, only in the opposite order. The task was chosen for what the quick-start model
    learns from scratch in minutes on a CPU: a small square moving up or down, a square fading in or
    out and a square growing or shrinking (each class the reversal of another) all stayed at 50%
    with a few hundred to a few thousand clips, the model memorising clips instead.
    """
    texture = rng.uniform(40, 215, size=(1, SIZE, SIZE, 3))
    ramp = np.linspace(-40.0, 40.0, LENGTH).reshape(LENGTH, 1, 1, 1)
    frames = np.clip(texture + ramp, 0, 255).astype(np.uint8)
    return frames[::-1].copy() if label == 1 else frames


def write_mp4(path: str, frames: np.ndarray, fps: int = FPS) -> None:
    """Encode (T, H, W, 3) uint8 frames as H.264 mp4."""
    import av

    with av.open(path, mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        # Every frame a keyframe at one fixed quantiser: a frame decodes the same whatever comes
        # before it, so a clip and its reversal hold exactly the same decoded frames (with
        # predicted frames, how sharp a frame comes out depends on its place in the clip, which
        # gave away the direction to space-only attention).
        stream.options = {"preset": "ultrafast", "qp": "18", "g": "1"}
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
    """The generated dataset (2 classes); Kinetics-style sampling, flip allowed (labels survive it)."""

    @classmethod
    def count_videos(cls, cfg, split: str) -> int:
        """Videos of ``split`` at DATA.SYNTHETIC_NUM_VIDEOS, generated or not."""
        return split_sizes(cfg.DATA.SYNTHETIC_NUM_VIDEOS)[split]

    def load_annotations(self) -> Tuple[List[VideoRecord], Optional[List[str]]]:
        """Generate on first use, then parse ``{split}.csv`` (paths relative to the data folder)."""
        root = self.cfg.DATA.PATH_TO_DATA_DIR
        if not root:
            raise AnnotationError("the synthetic dataset needs DATA.PATH_TO_DATA_DIR: a folder to write "
                                  "its videos into (e.g. ./data/synthetic)")
        generate(root, self.cfg.DATA.SYNTHETIC_NUM_VIDEOS)
        file = self.annotation_path(f"{self.split}.csv")
        records = [VideoRecord(os.path.join(root, path), parse_number(file, n, label), name=path,
                               source=f"{file}:{n}") for n, (path, label) in read_rows(file, " ")]
        return records, list(CLASSES)
