"""The attention picture a person reads: a title (class, probability, clip time), frames above their
overlays drawn large enough to read, a label under each frame saying its time and what its
percentage is, and a colour bar."""
import re

import numpy as np
from PIL import Image

from tests.checkpoints import tiny_checkpoint
from tests.conftest import load_tool
from tests.videos import write_video
from timesformer.visualize import colormap, frame_labels, write_attention
from timesformer.visualize.overlay import MIN_FRAME_PX


def _dark_rows(png: np.ndarray, top: int, bottom: int) -> int:
    """Rows between ``top`` and ``bottom`` holding text (dark pixels on the white background)."""
    return int((png[top:bottom].min(axis=(1, 2)) < 100).sum())


def test_the_picture_has_a_title_large_frames_labels_and_a_colour_bar(tmp_path):
    t, s = 4, 32
    frames = np.full((t, s, s, 3), 128, np.uint8)
    heat = np.linspace(0, 1, t * 4 * 4, dtype=np.float32).reshape(t, 4, 4)
    paths = write_attention(frames, heat, [1.0, 2.0, 3.0, 4.0], str(tmp_path), "clip",
                            title="brightening  probability (softmax) 0.83  |  test clip 0 (1.07-2.13 s)",
                            frame_times=[1.07, 1.33, 1.60, 1.87])
    png = np.asarray(Image.open(paths["png"]).convert("RGB"))
    scale = -(-MIN_FRAME_PX // s)  # frames drawn at least MIN_FRAME_PX wide
    cell = s * scale + 2
    assert png.shape[1] == t * cell + 2
    grey = (png == 128).all(axis=-1)  # (H, W): the frames' pixels (text is drawn in black and its greys)
    first_frame_top = next(y for y in range(png.shape[0]) if grey[y].sum() >= t * s * scale)
    assert first_frame_top >= 14 and _dark_rows(png, 0, first_frame_top) >= 8  # a title above the frames
    grid_bottom = first_frame_top + 2 * cell
    below = png[grid_bottom:]
    assert _dark_rows(below, 0, 50) >= 16  # two lines of labels under the frames
    ramp = colormap(np.linspace(0, 1, 256))  # the colour bar: the map's colours, low to high
    bar_rows = [y for y in range(below.shape[0])
                if np.abs(below[y].astype(int) - ramp[0]).sum(axis=1).min() < 30
                and np.abs(below[y].astype(int) - ramp[-1]).sum(axis=1).min() < 30]
    assert len(bar_rows) >= 8
    row = below[bar_rows[0]].astype(int)
    left = np.nonzero(np.abs(row - ramp[0]).sum(axis=1) < 30)[0][0]
    right = np.nonzero(np.abs(row - ramp[-1]).sum(axis=1) < 30)[0][-1]
    assert right - left > png.shape[1] // 3  # a bar, low on the left, high on the right


def test_frame_labels_say_the_time_and_what_the_percentage_is():
    labels = frame_labels([1.0, 3.0], times=[0.5, 1.25])
    assert labels == ["frame 0 at 0.50 s\n25% of relevance", "frame 1 at 1.25 s\n75% of relevance"]
    assert frame_labels([0.0, 0.0]) == ["frame 0\n0% of relevance", "frame 1\n0% of relevance"]


def test_the_tool_titles_the_picture(tmp_path, capsys):
    video = write_video(tmp_path / "clip.mp4", num_frames=40, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "m.pth", class_names=[f"class {i}" for i in range(5)])
    rc = load_tool("visualize_attention").main([str(video), "--weights", str(ckpt), "--out", str(tmp_path / "vis"),
                                                "--device", "cpu"])
    assert rc == 0
    title = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("title: "))
    assert re.fullmatch(r"title: class \d  probability \(softmax\) 0\.\d\d\d  \|  test clip 0 "
                        r"\(.*, \d+\.\d\d-\d+\.\d\d s\)  \|  divided_space_time", title), title
    with Image.open(tmp_path / "vis" / "clip_attention.png") as png:
        cell = MIN_FRAME_PX + 2  # 32-px crops drawn at 128 px
        assert png.size[0] == 4 * cell + 2 and png.size[1] > 2 * cell + 2 + 100  # title, labels, colour bar
