"""The optional torchcodec backend and GPU decoding (DATA.DECODING_BACKEND / DATA.DECODING_DEVICE):
a setting that cannot work here stops at the config or where the dataset is built, with the reason
and the fix, instead of turning every video into a bad file; where torchcodec works, its frames
match PyAV's."""
import numpy as np
import pytest
import torch

from tests.videos import noisy_index_frames, write_video
from timesformer.config import ConfigError, get_cfg, load_config
from timesformer.data import build_dataset, decoding
from timesformer.engine import check_config

TORCHCODEC_PROBLEM = decoding.torchcodec_problem("cpu")
SMALL = ["DATA.NUM_FRAMES", "4", "DATA.SAMPLING_RATE", "4", "DATA.TRAIN_CROP_SIZE", "32", "DATA.TEST_CROP_SIZE", "32",
         "DATA.TRAIN_JITTER_SCALES", "[36, 40]", "MODEL.PATCH_SIZE", "8", "MODEL.NUM_CLASSES", "2"]


def test_decoding_device_must_be_known_and_needs_torchcodec():
    with pytest.raises(ConfigError, match=r"DATA.DECODING_DEVICE = 'gpu' .*\('cpu', 'cuda'\)"):
        load_config(None, ["DATA.DECODING_DEVICE", "gpu"])
    with pytest.raises(ConfigError, match="DATA.DECODING_DEVICE = 'cuda' .*set DATA.DECODING_BACKEND torchcodec"):
        check_config(load_config(None, ["DATA.DECODING_DEVICE", "cuda"]))


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_gpu_decoding_without_a_gpu_is_a_config_error():
    with pytest.raises(ConfigError, match=r"DATA.DECODING_DEVICE = 'cuda' .*no CUDA GPU here"):
        check_config(load_config(None, ["DATA.DECODING_BACKEND", "torchcodec", "DATA.DECODING_DEVICE", "cuda"]))


@pytest.mark.skipif(not TORCHCODEC_PROBLEM, reason="torchcodec decodes here")
def test_unusable_torchcodec_stops_before_any_video_is_read(tmp_path):
    # Not installed (or installed without FFmpeg's libraries): the config says so, and so does a
    # dataset built from a config that was not checked; reading raises RuntimeError, not
    # DecodeError, so the file is not counted as a bad video.
    with pytest.raises(ConfigError, match=r"DATA.DECODING_BACKEND = 'torchcodec' .*(pip install torchcodec|FFmpeg)"):
        check_config(load_config(None, ["DATA.DECODING_BACKEND", "torchcodec"]))
    path = str(write_video(tmp_path / "a.mp4", num_frames=20))
    (tmp_path / "test.csv").write_text("a.mp4 0\n")
    cfg = get_cfg()
    cfg.merge_from_list(SMALL + ["TEST.DATASET", "kinetics", "DATA.PATH_TO_DATA_DIR", str(tmp_path),
                                 "DATA.PATH_PREFIX", str(tmp_path), "DATA.DECODING_BACKEND", "torchcodec"])
    with pytest.raises(RuntimeError, match="DATA.DECODING_BACKEND torchcodec, DATA.DECODING_DEVICE cpu: torchcodec"):
        build_dataset(cfg, "test")
    with pytest.raises(RuntimeError, match="torchcodec") as e:
        decoding.read_frames(path, [0, 5], backend="torchcodec")
    assert not isinstance(e.value, decoding.DecodeError)
    assert decoding.read_frames(path, [0, 5]).shape == (2, 48, 64, 3)  # PyAV, the default, still reads it


@pytest.mark.skipif(bool(TORCHCODEC_PROBLEM), reason=f"torchcodec cannot decode here: {TORCHCODEC_PROBLEM}")
@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_torchcodec_frames_match_pyav(tmp_path, device):
    if device == "cuda" and decoding.torchcodec_problem("cuda:0"):
        pytest.skip(decoding.torchcodec_problem("cuda:0"))
    path = str(write_video(tmp_path / "b.mp4", frames=noisy_index_frames(90), bframes=3, gop=30))
    request = [3, 40, 41, 77, 89]
    ours = decoding.read_frames(path, request).astype(int)
    theirs = decoding.read_frames(path, request, backend="torchcodec",
                                  device="cuda:0" if device == "cuda" else "cpu").astype(int)
    assert theirs.shape == ours.shape
    assert np.abs(theirs - ours).max() <= (0 if device == "cpu" else 12)  # GPU colour conversion rounds differently
    with pytest.raises(decoding.ShortVideo) as e:
        decoding.read_frames(path, [95], backend="torchcodec")
    assert e.value.num_frames == 90
