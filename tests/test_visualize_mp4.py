"""The MP4 writer the attention animations and the timeline video share (visualize/mp4.py)."""
from fractions import Fraction

import av
import numpy as np

from timesformer.visualize import save_animation


def test_an_attention_animation_keeps_its_frame_rate_and_pads_odd_sizes(tmp_path):
    frames = np.zeros((5, 33, 47, 3), dtype=np.uint8)
    frames[:, :, :, 0] = np.arange(5, dtype=np.uint8)[:, None, None] * 50  # each frame its own red
    path = save_animation(frames, str(tmp_path / "a.mp4"), fps=2.5)
    with av.open(path) as c:
        stream = c.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in c.decode(stream)]
        assert stream.average_rate == Fraction(5, 2)  # was rounded to a whole number of frames per second
    assert len(decoded) == 5 and decoded[0].shape == (34, 48, 3)
    reds = [int(np.median(f[:, :, 0])) for f in decoded]
    assert reds == sorted(reds) and abs(reds[-1] - 200) < 8
    assert [p.name for p in tmp_path.iterdir()] == ["a.mp4"]  # no temporary file left
