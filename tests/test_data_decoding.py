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
    got, first, last = _decode_pyav(one_keyframe, [4, 8, 12], seek=True)
    assert sorted(got) == [4, 8, 12] and (first, last) == (0, 12)
    gop10 = str(write_video(tmp_path / "gop10.mp4", num_frames=200, gop=10))
    got, first, last = _decode_pyav(gop10, [123, 131], seek=True)
    assert sorted(got) == [123, 131] and (first, last) == (120, 131)
