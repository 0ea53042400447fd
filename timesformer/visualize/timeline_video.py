"""A video with its timeline drawn on it (``tools/predict.py --out-video``): every frame shows the
top classes of the window nearest to it, for looking at what a model sees along a long video.

- Frames are the ones the model reads (``data.decoding.read_frames`` on the video's frame grid, a
  folder of frames at DATA.FRAMES_FPS), read in chunks of bounded memory; the output is H.264 in an
  .mp4 at the source frame rate, frame k of the output being frame k of the source.
- The size is the source's, scaled down when its longer side is above ``MAX_SIDE`` (the labels are
  for reading, not the pixels), and padded to even numbers as yuv420p needs.
- A frame shows the window whose centre is nearest the frame's middle (the earlier one on a tie):
  with the default stride the window holding it, between windows the closer one. Its classes and
  scores are the timeline's (smoothed when it was), in the top-left corner on a dark box, with the
  window's time span above them.
"""
import bisect
import os
from typing import Any, Dict, Iterator, List, Sequence

import numpy as np
from PIL import Image, ImageDraw

from timesformer.data import decoding

from .mp4 import output_size, write_mp4
from .overlay import _font

MAX_SIDE = 1280  # the longer side of the written frames at most (720p landscape)
CHUNK_BYTES = 256 << 20  # decoded frames held at once


def nearest_window(centres: Sequence[float], t: float) -> int:
    """The index of the window whose centre (seconds, in time order) is nearest ``t`` (the earlier on a tie)."""
    i = bisect.bisect_left(centres, t)
    return i if i == 0 or (i < len(centres) and centres[i] - t < t - centres[i - 1]) else i - 1


def draw_labels(frame: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """(H, W, 3) uint8 -> a copy with ``lines`` written in its top-left corner on a dark box."""
    image = Image.fromarray(frame)
    size = max(10, image.height // 22)
    font, pad = _font(size), max(2, size // 4)
    draw = ImageDraw.Draw(image, "RGBA")
    boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
    width = max(b[2] for b in boxes) + 2 * pad
    draw.rectangle((0, 0, width, len(lines) * (size + pad) + pad), fill=(0, 0, 0, 160))
    for n, line in enumerate(lines):
        draw.text((pad, pad + n * (size + pad)), line, font=font, fill=(255, 255, 255))
    return np.asarray(image)


def window_lines(window: Dict[str, Any]) -> List[str]:
    """The text drawn for a window: its span, then its top classes with their scores."""
    return [f"{window['start_s']:.2f}-{window['end_s']:.2f} s"] + [
        f"{t['name']}  {t['score']:.2f}" for t in window["top"]]


def read_all_frames(path: str, read_options: Dict[str, Any]) -> Iterator[np.ndarray]:
    """Every frame of the video on its frame grid, (H, W, 3) uint8 one at a time, decoded in chunks
    (``decoding.read_frames``) of at most CHUNK_BYTES, until the video ends."""
    start, chunk = 0, 16
    while True:
        indices = list(range(start, start + chunk))
        try:
            frames = decoding.read_frames(path, indices, **read_options)  # (T, H, W, 3)
        except decoding.ShortVideo as e:  # the end lies in this chunk
            if e.num_frames <= start:
                return
            frames = decoding.read_frames(path, list(range(start, e.num_frames)), **read_options)
            chunk = 0
        yield from frames
        if chunk == 0:
            return
        start += len(frames)
        chunk = int(min(256, max(16, CHUNK_BYTES // frames[0].nbytes)))


def write_timeline_video(src: str, out: str, windows: Sequence[Dict[str, Any]], data_cfg: Any) -> int:
    """Write ``src`` to ``out`` (.mp4, H.264 at the source frame rate) with each frame's nearest window's
    labels (``window_lines``) drawn on it; written to a temporary file renamed at the end. Returns the
    number of frames written."""
    options = decoding.read_options(data_cfg)
    fps = decoding.probe(src, data_cfg.FRAMES_FPS).fps
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    centres = [(w["start_s"] + w["end_s"]) / 2 for w in windows]

    def labelled() -> Iterator[np.ndarray]:
        for k, frame in enumerate(read_all_frames(src, options)):
            size = output_size(*frame.shape[:2], MAX_SIDE)
            if size != frame.shape[:2]:  # the labels are drawn at the written size
                frame = np.asarray(Image.fromarray(frame).resize(size[::-1], Image.BILINEAR))
            window = windows[nearest_window(centres, (k + 0.5) / fps)]  # the frame's middle
            yield draw_labels(frame, window_lines(window))

    return write_mp4(labelled(), out, fps)
