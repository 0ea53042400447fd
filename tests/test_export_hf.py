"""``convert_checkpoint --to hf`` writes a folder that transformers runs: weights, config.json with
id2label, preprocessor_config.json and a model card, all readable by group and others; the folder's
logits are checked against the source model during conversion; transformers' video-classification
pipeline runs it on a real mp4 and agrees with our predictor; ``--push-to-hub`` uploads it through
``huggingface_hub`` (its upload functions replaced here: nothing is sent)."""
import json
import os
from pathlib import Path

import httpx
import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub.errors import HfHubHTTPError

from tests.checkpoints import tiny_checkpoint
from tests.conftest import TINY, load_tool
from tests.videos import write_video
from timesformer.inference import load_predictor, predict_video
from timesformer.models import TimeSformer

convert_checkpoint = load_tool("convert_checkpoint")
NAMES = ["archery", "bowling", "cooking", "dancing", "eating"]
FILES = {"config.json", "model.safetensors", "preprocessor_config.json", "README.md"}


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _convert(tmp_path: Path, source: Path, *extra: str) -> Path:
    out = tmp_path / "hf"
    assert convert_checkpoint.main([str(source), str(out), "--to", "hf", *extra]) == 0
    return out


def test_the_folder_holds_every_file_readable_by_all(tmp_path, umask_022, capsys):
    out = _convert(tmp_path, tiny_checkpoint(tmp_path / "m.pth", class_names=NAMES))
    assert set(os.listdir(out)) == FILES
    assert {f: oct(os.stat(out / f).st_mode & 0o777) for f in FILES} == {f: oct(0o644) for f in FILES}
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {str(i): n for i, n in enumerate(NAMES)}
    pre = json.loads((out / "preprocessor_config.json").read_text())
    assert pre["image_mean"] == [0.45] * 3 and pre["image_std"] == [0.225] * 3
    assert pre["size"] == {"shortest_edge": 32} and pre["crop_size"] == {"height": 32, "width": 32}
    assert pre["num_frames"] == 4 and pre["input_channel_order"] == "rgb"
    assert "logits checked against transformers" in capsys.readouterr().out


def test_transformers_reads_the_processor_config(tmp_path):
    from transformers import AutoImageProcessor, AutoVideoProcessor

    out = _convert(tmp_path, tiny_checkpoint(tmp_path / "m.pth"))
    for processor in (AutoImageProcessor.from_pretrained(out), AutoVideoProcessor.from_pretrained(out)):
        assert list(processor.image_mean) == [0.45] * 3 and processor.crop_size["height"] == 32


def test_the_model_card_says_what_the_checkpoint_knows(tmp_path):
    source = tiny_checkpoint(tmp_path / "m.pth", class_names=NAMES)
    card = (_convert(tmp_path, source) / "README.md").read_text()
    assert card.startswith("---\nlicense: other\n") and "pipeline_tag: video-classification" in card
    for fact in (f"`{source}` (timesformer layout)", "`divided_space_time`", "| frames | 4: 4 frames, one every 2",
                 "32x32", "5: archery, bowling, cooking, dancing, eating", "| input channel order | rgb |",
                 "mean [0.45, 0.45, 0.45]", "the terms of the weights this model was trained from",
                 "tools/convert_checkpoint.py SOURCE OUT --to hf"):
        assert fact in card, fact
    diff = float(card.split("max abs difference ")[1].split(")")[0])
    assert "transformers" in card.split("## Parity")[1] and "agree" in card and diff <= 1e-5


def test_a_released_checkpoint_carries_its_license_and_an_ssv2_one_warns_of_bgr(tmp_path):
    pyth = tmp_path / "TimeSformer_divST_8_224_SSv2.pyth"
    cfg = "MODEL:\n  ARCH: vit\n  NUM_CLASSES: 174\nTEST:\n  DATASET: ssv2\n"  # as the authors' files state
    torch.save({"model_state": TimeSformer(**{**TINY, "num_classes": 174}).state_dict(), "epoch": 15, "cfg": cfg},
               pyth)
    card = (_convert(tmp_path, pyth, "--num-heads", "2") / "README.md").read_text()
    assert card.startswith("---\nlicense: cc-by-nc-4.0\n") and "CC BY-NC 4.0" in card
    assert "**This model expects BGR frames**" in card and "| input channel order | bgr |" in card
    assert "one frame from each of 4 equal segments" in card


def test_a_folder_transformers_runs_differently_is_flagged(tmp_path, caplog):
    # transformers' space_only attention is not the paper's (SPEC.md): the check catches it
    source = tiny_checkpoint(tmp_path / "m.pth", ["TIMESFORMER.ATTENTION_TYPE", "space_only"])
    card = (_convert(tmp_path, source) / "README.md").read_text()
    assert "DIFFER by more than 0.001: run this model with timesformer" in card
    assert "differ from timesformer's" in caplog.text


def _pipeline_input(pipe, video: Path):
    """The mp4 itself where transformers can decode it here (its image-processor pipeline decodes with
    PyAV, its video processors with torchcodec, which needs FFmpeg's libraries); else its frames decoded
    by PyAV, which the pipeline then samples and preprocesses as it would the decoded file."""
    import av
    from transformers import utils

    usable = getattr(utils, "is_torchcodec_usable", lambda decode: False)
    if pipe.video_processor is None or usable(decode="video"):
        return str(video)
    with av.open(str(video)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_the_transformers_pipeline_runs_the_folder_as_our_predictor_does(tmp_path):
    from transformers import pipeline

    out = _convert(tmp_path, tiny_checkpoint(tmp_path / "m.pth", class_names=NAMES))
    # a still scene: transformers samples frames over the whole video where our protocol takes 4 every
    # 2nd; with every frame alike, the clip is the same, and a 32x32 video needs no resizing
    still = np.random.default_rng(0).integers(0, 256, (1, 32, 32, 3), dtype=np.uint8).repeat(40, axis=0)
    video = write_video(tmp_path / "still.mp4", frames=still)
    pipe = pipeline("video-classification", model=str(out))
    theirs = {r["label"]: r["score"] for r in pipe(_pipeline_input(pipe, video), top_k=5)}
    predictor = load_predictor(str(out), opts=["TEST.NUM_ENSEMBLE_VIEWS", "1", "TEST.NUM_SPATIAL_CROPS", "1"])
    ours = {r["name"]: r["score"] for r in predict_video(predictor, str(video))["top"]}
    assert set(theirs) == set(NAMES) == set(ours)  # labels from id2label
    assert max(abs(theirs[n] - ours[n]) for n in NAMES) <= 1e-4


def test_push_to_hub_uploads_the_folder(tmp_path, monkeypatch, capsys):
    calls = []

    def create_repo(self, repo_id, **kwargs):
        calls.append(("create_repo", repo_id, kwargs))

    def upload_folder(self, *, repo_id, folder_path, **kwargs):
        calls.append(("upload_folder", repo_id, set(os.listdir(folder_path))))
        return huggingface_hub.CommitInfo(commit_url=f"https://huggingface.co/{repo_id}/commit/abc",
                                          commit_message="", commit_description="", oid="abc")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    _convert(tmp_path, tiny_checkpoint(tmp_path / "m.pth"), "--push-to-hub", "me/tiny-timesformer")
    assert calls == [("create_repo", "me/tiny-timesformer", {"repo_type": "model", "exist_ok": True}),
                     ("upload_folder", "me/tiny-timesformer", FILES)]
    assert "uploaded to https://huggingface.co/me/tiny-timesformer/commit/abc" in capsys.readouterr().out


def test_a_failed_upload_is_an_error_saying_the_folder_is_intact(tmp_path, monkeypatch, capsys):
    def create_repo(self, repo_id, **kwargs):  # what the hub answers a user who is not logged in
        request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
        raise HfHubHTTPError("401 Client Error: Unauthorized", response=httpx.Response(401, request=request))

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    source = tiny_checkpoint(tmp_path / "m.pth")
    rc = convert_checkpoint.main([str(source), str(tmp_path / "hf"), "--to", "hf", "--push-to-hub", "me/x"])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error: could not upload") and "me/x" in err and "Unauthorized" in err
    assert "hf auth login" in err and f"hf upload me/x {tmp_path / 'hf'}" in err
    assert set(os.listdir(tmp_path / "hf")) == FILES
    # only a Hugging Face folder is uploaded: a usage error, before any work
    rc = convert_checkpoint.main([str(source), str(tmp_path / "m2.pth"), "--to", "timesformer",
                                  "--push-to-hub", "me/x"])
    assert rc == 2 and "use it with --to hf" in capsys.readouterr().err
    assert not (tmp_path / "m2.pth").exists()
