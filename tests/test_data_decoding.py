"""Decoding real files encoded by the tests: H.264/VP9, several fps and sizes, long GOPs, bad files."""
import numpy as np
import pytest

from tests.videos import frame_index, write_jpeg_folder, write_trimmed_mp4, write_truncated, write_video
from timesformer.data.decoding import DecodeError, ShortVideo, count_frames, probe, read_frames


def _indices(frames):
    return [frame_index(f) for f in frames]


@pytest.mark.parametrize("name,fps,width,height,gop", [
    ("long_gop.mp4", 30, 64, 48, 250),   # one keyframe: every seek lands at frame 0
    ("gop10.mp4", 25, 48, 64, 10),       # portrait
    ("vp9.webm", 15, 64, 48, 12),
])
def test_reads_requested_frames(tmp_path, name, fps, width, height, gop):
    path = str(write_video(tmp_path / name, num_frames=90, fps=fps, width=width, height=height, gop=gop))
    info = probe(path)
    assert info.fps == pytest.approx(fps) and info.num_frames == 90
    frames = read_frames(path, [40, 3, 3, 89, 55])
    assert frames.dtype == np.uint8 and frames.shape == (5, height, width, 3)
    assert _indices(frames) == [40, 3, 3, 89, 55]
    assert _indices(read_frames(path, [0])) == [0]
    assert count_frames(path) == 90


def test_one_second_video_and_request_past_end(tmp_path):
    path = str(write_video(tmp_path / "one_second.mp4", num_frames=25, fps=25))
    assert _indices(read_frames(path, [0, 12, 24])) == [0, 12, 24]
    with pytest.raises(ShortVideo) as e:
        read_frames(path, [10, 40])
    assert e.value.num_frames == 25


def test_header_frame_count_lies(tmp_path):
    # A stream-copied trim with an edit list: the header counts 60 frames, 40 decode.
    import av

    src = write_video(tmp_path / "full.mp4", num_frames=60, fps=30, gop=10)
    path = str(write_trimmed_mp4(src, tmp_path / "trim.mp4", drop_frames=20))
    with av.open(path) as c:
        assert c.streams.video[0].frames == 60
    assert count_frames(path) == 40
    assert _indices(read_frames(path, [0, 39])) == [20, 59]  # position 0 is the first shown frame
    with pytest.raises(ShortVideo) as e:
        read_frames(path, [50])
    assert e.value.num_frames == 40


def test_truncated_files(tmp_path):
    whole = write_video(tmp_path / "whole.mp4", num_frames=60, gop=10)
    with pytest.raises(DecodeError, match="cut.mp4"):  # index at the end: nothing opens
        read_frames(str(write_truncated(whole, tmp_path / "cut.mp4")), [0])
    fast = write_video(tmp_path / "fast.mp4", num_frames=60, gop=10, faststart=True)
    cut = str(write_truncated(fast, tmp_path / "cut_fast.mp4", keep=0.5))
    assert probe(cut).num_frames == 60  # the header still promises every frame
    assert _indices(read_frames(cut, [0, 5])) == [0, 5]
    with pytest.raises(ShortVideo) as e:
        read_frames(cut, [55])
    assert 0 < e.value.num_frames < 60


def test_missing_and_not_a_video(tmp_path):
    with pytest.raises(DecodeError, match="does not exist"):
        read_frames(str(tmp_path / "nope.mp4"), [0])
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 10)
    with pytest.raises(DecodeError, match="junk.mp4"):
        read_frames(str(junk), [0])


def test_jpeg_folder(tmp_path):
    folder = str(write_jpeg_folder(tmp_path / "frames", num_frames=12))
    frames = read_frames(folder, [0, 11, 5])
    assert frames.shape == (3, 48, 64, 3) and _indices(frames) == [0, 11, 5]
    assert probe(folder, frames_fps=12).num_frames == 12
    with pytest.raises(ShortVideo):
        read_frames(folder, [12])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DecodeError, match="no"):
        read_frames(str(tmp_path / "empty"), [0])


def test_jpeg_folder_unpadded_names_in_numeric_order(tmp_path):
    # 1.jpg ... 12.jpg: sorted as text, 10.jpg would come before 2.jpg.
    folder = str(write_jpeg_folder(tmp_path / "frames", num_frames=12, name_format="{}.jpg"))
    assert _indices(read_frames(folder, list(range(12)))) == list(range(12))


def test_decodes_from_the_keyframe_before_the_clip_to_its_last_frame(tmp_path):
    # _decode_pyav (read_frames' PyAV path) reports the first and last frame it pulled from the
    # decoder: an early clip of a 200-frame video stops at the clip's last frame, never the end.
    from timesformer.data.decoding import _decode_pyav

    one_keyframe = str(write_video(tmp_path / "long_gop.mp4", num_frames=200, gop=250))
    decoded = _decode_pyav(one_keyframe, [4, 8, 12], seek=True)
    assert sorted(decoded.frames) == [4, 8, 12] and (decoded.first, decoded.last) == (0, 12)
    gop10 = str(write_video(tmp_path / "gop10.mp4", num_frames=200, gop=10))
    decoded = _decode_pyav(gop10, [123, 131], seek=True)
    assert sorted(decoded.frames) == [123, 131] and (decoded.first, decoded.last) == (120, 131)


# ----------------------------------------------------------------------------- positions without a frame
def _on_screen(path, indices):
    """Oracle, from one plain decode of every frame: index -> its own frame (the first whose timestamp
    rounds to it), else the last frame before it, else (before the first frame) the first frame."""
    import av

    fps = probe(path).fps
    with av.open(path) as c:
        s = c.streams.video[0]
        start = s.start_time or 0
        shown = [(round(float((f.pts - start) * f.time_base) * fps), frame_index(f.to_ndarray(format="rgb24")))
                 for f in c.decode(s)]
    shown = [(pos, content) for pos, content in shown if pos >= 0]
    out = []
    for w in indices:
        own = [content for pos, content in shown if pos == w]
        before = [content for pos, content in shown if pos < w]
        out.append(own[0] if own else before[-1] if before else shown[0][1])
    return out


def test_hole_in_a_trim_with_an_edit_list_shows_the_frame_before_it(tmp_path):
    # A stream-copied trim (edit list, first 20 frames cut) whose source frames 145..149 (the end of
    # a GOP) are missing: positions in the hole have no frame of their own. Before the fix [125]
    # raised IndexError and [120, 125] gave 125 the frame of 120.
    src = write_video(tmp_path / "full.mp4", num_frames=250, fps=30, gop=10)
    path = str(write_trimmed_mp4(src, tmp_path / "trim.mp4", drop_frames=20, omit=range(145, 150)))
    assert _indices(read_frames(path, [125])) == [144]  # the last frame before the hole
    for request in ([125], [127], [120, 125], [126, 121, 128], list(range(110, 140)), [0, 125, 200]):
        assert _indices(read_frames(path, request)) == _on_screen(path, request), request


@pytest.mark.parametrize("name", ["vfr.mp4", "vfr.webm"])
def test_variable_frame_rate_gap_shows_the_frame_before_it(tmp_path, name):
    # Frames 50..99 dropped, the others keep their 30 fps timestamps. Before the fix [60, 70, 80]
    # raised IndexError (webm) or gave frame 105 for 60 (mp4, whose average rate is 20 fps).
    keep = list(range(50)) + list(range(100, 150))
    from tests.videos import index_frames

    path = str(write_video(tmp_path / name, fps=30, frames=index_frames(150)[keep], pts=keep, gop=12))
    for request in ([60, 70, 80], [60], [49, 50], [99, 30], list(range(40, 100, 3))):
        assert _indices(read_frames(path, request)) == _on_screen(path, request), request
    if name.endswith(".webm"):  # a 30 fps grid: every position in the gap shows frame 49
        assert _indices(read_frames(path, [60, 70, 80, 100])) == [49, 49, 49, 100]
