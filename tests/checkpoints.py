"""Checkpoint files for tests, written by the tests: tiny checkpoints as the engine and transformers
write them, a stand-in hub that serves a local folder, and damaged copies (what a copy cut short or
blocks lost in a crash leave behind).

    from tests.checkpoints import damage_data, half_copy, tiny_checkpoint, write_hf_timesformer
    tiny_checkpoint(path)              # a training checkpoint of a tiny model with its config
    write_hf_timesformer(folder)       # a tiny transformers TimeSformer saved with save_pretrained
    kinetics_test_set(tmp_path)        # one real video as a Kinetics test set, a checkpoint for it
    install_fake_hub(monkeypatch, d)   # the hub id HUB_REPO_ID (or served=) serves folder d; nothing downloads
    damage_data(path)                  # the index reads; the largest member's bytes fail their CRC-32
    half_copy(src, dst)                # the first half of ``src`` only
"""
import os
import struct
import zipfile
from pathlib import Path
from typing import List, Tuple, Union

import huggingface_hub
import torch
from huggingface_hub.errors import LocalEntryNotFoundError

from tests.videos import write_video
from timesformer.config import get_cfg
from timesformer.models import build_model

PathLike = Union[str, os.PathLike]

HUB_REPO_ID = "owner/tiny-timesformer"  # the one repo install_fake_hub serves

# Overrides of the default config for tiny_checkpoint's model: 1 block, 4 frames of 32 x 32, 5 classes.
TINY_CHECKPOINT_OPTS = ["MODEL.EMBED_DIM", 32, "MODEL.DEPTH", 1, "MODEL.NUM_HEADS", 2, "MODEL.PATCH_SIZE", 8,
                        "DATA.TRAIN_CROP_SIZE", 32, "DATA.TEST_CROP_SIZE", 32, "DATA.NUM_FRAMES", 4,
                        "DATA.SAMPLING_RATE", 2, "DATA.TRAIN_JITTER_SCALES", [32, 40], "MODEL.NUM_CLASSES", 5]


def tiny_checkpoint(path: Path, extra=(), class_names=None) -> Path:
    """A training checkpoint as the engine writes it: model state (``model.`` keys) and the cfg."""
    cfg = get_cfg()
    cfg.merge_from_list(TINY_CHECKPOINT_OPTS + list(extra))
    state = {"model": build_model(cfg).state_dict(), "cfg": cfg.dump(), "epoch": 3}
    if class_names:
        state["class_names"] = class_names
    torch.save(state, path)
    return path


def kinetics_test_set(tmp_path: Path, num_frames: int = 40, dataset: str = "kinetics"):
    """One real video listed as a Kinetics-format test set, and a checkpoint whose config is that
    set's: 4 frames every 8th at 30 fps (a clip spans 25 frames and is 32 long), 3 crops. 40 frames
    are the analogue of a 10 s Kinetics video under an 8x32 clip (8.5 s)."""
    video = write_video(tmp_path / "videos" / "v.mp4", num_frames=num_frames, fps=30)
    data = tmp_path / "data"
    data.mkdir()
    (data / "test.csv").write_text("v.mp4 2\n")
    ckpt = tiny_checkpoint(tmp_path / "m.pth", ["DATA.SAMPLING_RATE", 8, "TRAIN.DATASET", dataset,
                                                "TEST.DATASET", dataset, "DATA.PATH_TO_DATA_DIR", str(data),
                                                "DATA.PATH_PREFIX", str(tmp_path / "videos")])
    return video, ckpt


def randomise(module: torch.nn.Module, names=("time_embed", "temporal_dense", "temporal_fc")) -> None:
    """Give zero-initialised tensors random values so that the comparison covers them."""
    with torch.no_grad():
        for n, p in module.named_parameters():
            if any(s in n for s in names):
                p.normal_(0, 0.05)


def write_hf_timesformer(folder: Path, scheme: str = "divided_space_time", num_frames: int = 4):
    """A randomly initialised tiny transformers TimeSformer (5 classes "class0".."class4"), saved
    into ``folder`` with save_pretrained; returns the model."""
    from transformers import TimesformerConfig, TimesformerForVideoClassification

    cfg = TimesformerConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2,
                            num_attention_heads=2, intermediate_size=128, num_frames=num_frames,
                            attention_type=scheme, num_labels=5,
                            id2label={i: f"class{i}" for i in range(5)},
                            label2id={f"class{i}": i for i in range(5)})
    torch.manual_seed(1)
    hf = TimesformerForVideoClassification(cfg).eval()
    randomise(hf)
    hf.save_pretrained(folder)
    return hf


def hf_logits(hf, x: torch.Tensor) -> torch.Tensor:
    """The logits of a transformers TimeSformer for our (B, C, T, H, W) input ``x``."""
    with torch.no_grad():
        return hf(pixel_values=x.transpose(1, 2)).logits  # transformers wants (B, T, C, H, W)


def install_fake_hub(monkeypatch, snapshot: Path, served: str = HUB_REPO_ID) -> List[Tuple[str, dict]]:
    """Serve ``snapshot`` as hub repo ``served``; other repos are missing as offline. Returns the calls."""
    calls: List[Tuple[str, dict]] = []

    def snapshot_download(repo_id: str, **kwargs) -> str:
        calls.append((repo_id, kwargs))
        if repo_id != served:
            raise LocalEntryNotFoundError(f"{repo_id}: not in the local cache and outgoing traffic is disabled")
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return calls


def damage_data(path: PathLike, fill: int = 0, length: int = 64) -> str:
    """Overwrite ``length`` bytes of the largest member of the zip archive ``path`` (a torch file's
    largest tensor, an npz's largest array) with ``fill`` (0: finite zeros), in place; returns the
    member's name."""
    with zipfile.ZipFile(path) as z:
        tensors = [i for i in z.infolist() if "/data/" in i.filename] or z.infolist()  # not data.pkl
        record = max(tensors, key=lambda i: i.file_size)
    data = bytearray(Path(path).read_bytes())
    header = record.header_offset
    extra = struct.unpack("<H", data[header + 28:header + 30])[0]
    start = header + 30 + len(record.filename.encode()) + extra  # the member's first data byte
    data[start:start + length] = bytes([fill]) * length
    Path(path).write_bytes(bytes(data))
    return record.filename


def half_copy(src: PathLike, dst: PathLike) -> str:
    """Write the first half of ``src`` to ``dst`` (a copy cut off half-way); returns ``dst``."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: len(data) // 2])
    return str(dst)
