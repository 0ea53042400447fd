"""Class-name lists, and tools/predict.py on small generated videos with tiny checkpoints."""
import json
import logging
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.checkpoints import HUB_REPO_ID, install_fake_hub, kinetics_test_set, tiny_checkpoint, write_hf_timesformer
from tests.conftest import load_tool
from tests.videos import frame_index, write_truncated, write_video
from timesformer.classnames import class_names_for, load_class_names
from timesformer.data import decoding, sampling
from timesformer.inference import load_predictor, run_clips, video_clips

predict = load_tool("predict")

# ----------------------------------------------------------------------------- class names
def test_builtin_class_lists_are_complete_and_in_label_order():
    k400, k600, ssv2 = (load_class_names(n) for n in ("k400", "kinetics600", "ssv2"))
    assert (len(k400), len(k600), len(ssv2)) == (400, 600, 174)
    assert all(len(set(x)) == len(x) for x in (k400, k600, ssv2))
    # Released checkpoints index the classes in sorted order (HF id2label: 0 = abseiling).
    assert k400 == sorted(k400) and k600 == sorted(k600) and ssv2 == sorted(ssv2)
    assert (k400[0], k400[-1], k600[1], ssv2[0]) == (
        "abseiling", "zumba", "acting in play", "Approaching something with your camera")
    assert "[" not in "".join(ssv2)  # templates with plain "something"
    assert class_names_for(174) == ssv2 and class_names_for(7) == []


def test_class_names_from_files(tmp_path):
    txt = tmp_path / "names.txt"
    txt.write_text("cat\ndog\n\n")
    assert load_class_names(str(txt)) == ["cat", "dog"]
    (tmp_path / "id2label.json").write_text(json.dumps({"id2label": {"1": "dog", "0": "cat"}}))
    assert load_class_names(str(tmp_path / "id2label.json")) == ["cat", "dog"]
    (tmp_path / "labels.json").write_text(json.dumps({"dog": "1", "cat": "0"}))  # SSv2 labels.json style
    assert load_class_names(str(tmp_path / "labels.json")) == ["cat", "dog"]
    (tmp_path / "bad.json").write_text(json.dumps({"0": "cat", "2": "dog"}))
    with pytest.raises(ValueError, match="indices 0..N-1"):
        load_class_names(str(tmp_path / "bad.json"))
    with pytest.raises(ValueError, match="built-in lists"):
        load_class_names("kinetics-999")


# ----------------------------------------------------------------------------- clips
def test_windows_cover_a_long_video_and_hold_the_requested_frames(tmp_path):
    video = write_video(tmp_path / "long.mp4", num_frames=90, fps=30)
    p = load_predictor(str(tiny_checkpoint(tmp_path / "m.pth")), device="cpu")
    test_clips, _, _ = video_clips(str(video), p.cfg)  # the Kinetics protocol: the middle clip
    assert test_clips.plan == [sampling.clip_indices(90, 30, 4, 2, 30, 0, 1)] == [[41, 43, 45, 47]]
    clips, fps, duration = video_clips(str(video), p.cfg, timeline=True)
    # 4 frames every 2nd: windows 8 frames long; 90 frames need 12, the last ending at frame 89.
    assert (fps, duration) == (30.0, 3.0) and len(clips) == sampling.num_cover_clips(90, 4, 2, 30, 30) == 12
    assert clips[0].frames == [0, 2, 4, 6] and clips[1].frames == [8, 10, 12, 14]
    assert clips[11].frames == [83, 85, 87, 89]
    for c in clips:
        assert c.crops.shape == (3, 3, 4, 32, 32) and c.crops.dtype == torch.uint8  # (crops, C, T, S, S)
        centre = c.crops[1].permute(1, 2, 3, 0).numpy()  # (T, S, S, C)
        assert [frame_index(f) for f in centre] == c.frames
    logits, feats = run_clips(p, clips[:2], batch_size=4)
    assert logits.shape == (6, 5) and feats.shape == (6, 32)
    low, _ = run_clips(p, clips[:2], batch_size=4, precision="bf16")  # autocast, as on a GPU
    assert low.dtype == torch.float32 and torch.allclose(low, logits, atol=0.05)


def test_clips_are_decoded_one_at_a_time_as_the_batches_need_them(tmp_path, monkeypatch):
    """video_clips decodes one frame (the furthest planned); run_clips decodes a clip only when its
    views are needed, so memory holds one batch, not the video."""
    video = write_video(tmp_path / "long.mp4", num_frames=90, fps=30)
    p = load_predictor(str(tiny_checkpoint(tmp_path / "m.pth")), device="cpu")
    reads, read_frames = [], decoding.read_frames
    monkeypatch.setattr(decoding, "read_frames", lambda path, idx, *a, **kw: reads.append(list(idx)) or
                        read_frames(path, idx, *a, **kw))
    clips, _, _ = video_clips(str(video), p.cfg, timeline=True)
    assert reads == [[max(clips.plan[-1])]] and len(clips) == 12
    decoded_at_forward, forward_features = [], p.model.model.forward_features
    monkeypatch.setattr(p.model.model, "forward_features", lambda x: decoded_at_forward.append(len(reads) - 1) or
                        forward_features(x))
    logits, feats = run_clips(p, clips, batch_size=3)  # 3 crops per clip: one clip per batch
    assert decoded_at_forward == list(range(1, 13)) and reads[1:] == clips.plan
    decoded_at_forward.clear()
    other, _ = run_clips(p, (clips[i] for i in range(len(clips))), batch_size=8)  # any iterable
    assert len(decoded_at_forward) == 5 and torch.allclose(other, logits, atol=1e-5)


def test_a_video_shorter_than_its_header_is_planned_on_the_frames_that_decode(tmp_path):
    cut = write_truncated(write_video(tmp_path / "v.webm", num_frames=90, fps=30), tmp_path / "cut.webm", keep=0.5)
    real = decoding.count_frames(str(cut))
    assert decoding.probe(str(cut)).num_frames == 90 and real < 60  # the header promises 90
    p = load_predictor(str(tiny_checkpoint(tmp_path / "m.pth")), device="cpu")
    clips, fps, duration = video_clips(str(cut), p.cfg, timeline=True)
    assert duration == real / fps and len(clips) == sampling.num_cover_clips(real, 4, 2, 30, 30)
    assert clips.plan[-1][-1] == real - 1  # the last window ends at the last frame that decodes
    assert [c.crops.shape for c in clips] == [(3, 3, 4, 32, 32)] * len(clips)  # every clip decodes


def test_short_video_gets_the_config_views(tmp_path):
    video = write_video(tmp_path / "short.mp4", num_frames=8, fps=30)
    p = load_predictor(str(tiny_checkpoint(tmp_path / "m.pth", ["TEST.NUM_ENSEMBLE_VIEWS", 2])), device="cpu")
    clips, _, _ = video_clips(str(video), p.cfg)
    assert p.cfg.TEST.NUM_ENSEMBLE_VIEWS == 2 and len(clips) == 2  # from the checkpoint's config


def test_ssv2_clip_spans_the_whole_video(tmp_path):
    video = write_video(tmp_path / "v.webm", num_frames=60, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "m.pth", ["TEST.DATASET", "ssv2", "TRAIN.DATASET", "ssv2",
                                            "DATA.RANDOM_FLIP", False])
    p = load_predictor(str(ckpt), device="cpu")
    clips, _, _ = video_clips(str(video), p.cfg)
    assert len(clips) == 1 and clips[0].frames == sampling.segment_indices(60, 4, 0, 1)
    assert video_clips(str(video), p.cfg, timeline=True)[0].plan == clips.plan  # the timeline: that one clip
    assert clips[0].frames[0] < 15 and clips[0].frames[-1] > 45


# ----------------------------------------------------------------------------- the tool
def test_predict_json_timeline_and_features(tmp_path, capsys):
    short = write_video(tmp_path / "short.mp4", num_frames=8, fps=30)
    long = write_video(tmp_path / "long.mp4", num_frames=60, fps=30)
    names = [f"class {i}" for i in range(5)]
    ckpt = tiny_checkpoint(tmp_path / "m.pth", class_names=names)
    feats = tmp_path / "out" / "f.npz"
    rc = predict.main([str(short), str(long), str(tmp_path / "missing.mp4"), "--weights", str(ckpt),
                       "--json", "--topk", "5", "--features", str(feats), "--device", "cpu", "--timeline"])
    assert rc == 1  # one video could not be read; the others are reported
    out = json.loads(capsys.readouterr().out)
    assert [r["video"] for r in out["results"]] == [str(short), str(long)]
    assert "missing.mp4" in out["errors"][0]["error"]
    for r in out["results"]:
        scores = [t["score"] for t in r["top"]]
        assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-4  # all 5 classes
        assert {t["name"] for t in r["top"]} == set(names)
        spans = [(w["start_s"], w["end_s"]) for w in r["timeline"]]
        # in order, not overlapping but for the last, which ends at the video's end
        assert all(a[1] <= b[0] + 1e-6 for a, b in pairwise(spans[:-1]))
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in pairwise(spans))
        assert len(spans) == 1 or spans[-1][1] == r["duration_s"]
    assert [r["num_clips"] for r in out["results"]] == [1, 1]  # the protocol's middle clip
    assert [len(r["timeline"]) for r in out["results"]] == [1, 8]
    data = np.load(feats)
    assert list(data["videos"]) == [str(short), str(long)] and data["features"].shape == (2, 32)
    # The saved feature is the mean CLS embedding of the views.
    p = load_predictor(str(ckpt), device="cpu")
    clips, _, _ = video_clips(str(short), p.cfg)
    from timesformer.data import normalize
    x = normalize(clips[0].crops, p.cfg.DATA.MEAN, p.cfg.DATA.STD)
    with torch.no_grad():
        expected = p.model.model.forward_features(x).mean(0)
    assert np.allclose(data["features"][0], expected.numpy(), atol=1e-5)


def test_predict_text_with_builtin_names_and_pt_features(tmp_path, capsys):
    video = write_video(tmp_path / "a.mp4", num_frames=20, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "m.pth", ["MODEL.NUM_CLASSES", 174])  # no names stored: SSv2 list
    rc = predict.main([str(video), "--weights", str(ckpt), "--topk", "3", "--timeline", "--device", "cpu",
                       "--features", str(tmp_path / "f.pt"), "--opts", "TEST.NUM_SPATIAL_CROPS", "1"])
    text = capsys.readouterr().out
    assert rc == 0 and "1 crop(s)" in text and "window   0" in text
    ssv2 = load_class_names("ssv2")
    assert sum(name in text for name in ssv2) >= 3
    saved = torch.load(tmp_path / "f.pt", weights_only=True)
    assert saved["features"].shape == (1, 32) and saved["videos"] == [str(video)]


def test_predict_rejects_bad_arguments(tmp_path, capsys):
    video = write_video(tmp_path / "a.mp4", num_frames=8, fps=30)
    ckpt = tiny_checkpoint(tmp_path / "m.pth")
    assert predict.main([str(video), "--weights", str(ckpt), "--class-names", "k400"]) == 2
    assert "400 class names (--class-names k400) for a model with 5 classes" in capsys.readouterr().err
    assert predict.main([str(video), "--weights", str(tmp_path / "nope.pth")]) == 2
    assert predict.main([str(video), "--weights", str(ckpt), "--features", str(tmp_path / "f.csv")]) == 2
    assert "--features" in capsys.readouterr().err


def test_predict_from_hf_folder_and_reference_pyth(tmp_path, capsys):
    """A Hugging Face folder (names from id2label; our config when we wrote it, else defaults + the
    model's frames/size) and a reference-style .pyth whose YAML holds keys we do not know (only the
    protocol keys are read)."""
    from timesformer.checkpoint import read_source, write_weights

    video = write_video(tmp_path / "a.mp4", num_frames=40, fps=30)
    w = read_source(str(tiny_checkpoint(tmp_path / "m.pth", class_names=list("abcde"))))
    write_weights(w, str(tmp_path / "hf"), "hf")
    assert load_predictor(str(tmp_path / "hf"), device="cpu").cfg.DATA.SAMPLING_RATE == 2  # ours, in config.json
    w.cfg = None  # as transformers writes it: no config of ours
    write_weights(w, str(tmp_path / "hf"), "hf")
    p = load_predictor(str(tmp_path / "hf"), device="cpu")
    assert p.class_names == list("abcde") and p.cfg.DATA.NUM_FRAMES == 4 and p.cfg.DATA.TEST_CROP_SIZE == 32
    assert p.cfg.DATA.SAMPLING_RATE == 32  # no stored config: the Kinetics default
    state = torch.load(tmp_path / "m.pth", weights_only=True)
    reference_yaml = ("TRAIN:\n  DATASET: ssv2\n  BATCH_SIZE: 8\nTEST:\n  DATASET: ssv2\n  NUM_SPATIAL_CROPS: 1\n"
                      "DATA:\n  NUM_FRAMES: 4\n  TEST_CROP_SIZE: 32\n  TRAIN_JITTER_SCALES: [32, 40]\n"
                      "  PATH_TO_DATA_DIR: /x\nMODEL:\n  NUM_HEADS: 2\n  MODEL_NAME: vit_base_patch16_224\n"
                      "SOLVER:\n  BASE_LR: 0.005\n  LR_POLICY: steps_with_relative_lrs\n")
    torch.save({"model_state": state["model"], "cfg": reference_yaml, "epoch": 15}, tmp_path / "ref.pyth")
    rc = predict.main([str(video), "--weights", str(tmp_path / "ref.pyth"), "--json", "--device", "cpu"])
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert rc == 0 and (r["num_clips"], r["num_crops"]) == (1, 1)  # SSv2 protocol: one segment clip


def test_explicit_cfg_decides_the_protocol_and_frames(tmp_path, capsys):
    video = write_video(tmp_path / "a.mp4", num_frames=64, fps=30)
    cfg = tmp_path / "c.yaml"
    cfg.write_text("MODEL: {EMBED_DIM: 32, DEPTH: 1, NUM_HEADS: 2, PATCH_SIZE: 8, NUM_CLASSES: 5}\n"
                   "DATA: {NUM_FRAMES: 8, SAMPLING_RATE: 8, TRAIN_CROP_SIZE: 32, TEST_CROP_SIZE: 32}\n"
                   "TEST: {NUM_SPATIAL_CROPS: 1}\n")
    p = load_predictor(str(tiny_checkpoint(tmp_path / "m.pth")), str(cfg), device="cpu")
    assert p.model.model.time_embed.shape[1] == 8  # 4 frames in the checkpoint, resampled to the config's 8
    clips, _, _ = video_clips(str(video), p.cfg)
    assert len(clips) == 1 and clips[0].crops.shape == (1, 3, 8, 32, 32)
    assert clips[0].frames == sampling.clip_indices(64, 30.0, 8, 8, 30, 0, 1)
    rc = predict.main([str(video), "--weights", str(tmp_path / "m.pth"), "--cfg", str(cfg), "--device", "cpu"])
    assert rc == 0 and "1 clip(s) x 1 crop(s)" in capsys.readouterr().out


def test_predict_with_a_hub_id_and_the_errors_of_weights_it_cannot_get(tmp_path, monkeypatch, capsys):
    """A hub id is fetched by huggingface_hub.snapshot_download (serving a save_pretrained folder
    here); an unreachable id and a missing local file are one-line errors with exit status 2."""

    video = write_video(tmp_path / "a.mp4", num_frames=40, fps=30)
    write_hf_timesformer(tmp_path / "snapshot")
    calls = install_fake_hub(monkeypatch, tmp_path / "snapshot")
    assert predict.main([str(video), "--weights", HUB_REPO_ID, "--json", "--device", "cpu"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert {t["name"] for t in r["top"]} == {f"class{i}" for i in range(5)} and calls[0][0] == HUB_REPO_ID

    assert predict.main([str(video), "--weights", "owner/missing"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: could not fetch 'owner/missing' from the Hugging Face hub") and "Traceback" not in err
    missing = "checkpoints/TimeSformer_divST_8x32_224_K400.pyth"
    assert predict.main([str(video), "--weights", missing]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: pretrained weights {missing}") and "could not fetch" not in err
    assert len(calls) == 2  # the file name was never sent to the hub


def test_class_names_from_the_training_data_folder(tmp_path, capsys, caplog):
    """Our training checkpoints store no names: predict finds them in the classnames.txt of the
    DATA.PATH_TO_DATA_DIR their config names, when that folder exists here with the right count."""
    video = write_video(tmp_path / "a.mp4", num_frames=8, fps=30)
    data = tmp_path / "data"
    data.mkdir()
    (data / "classnames.txt").write_text("".join(f"action {i}\n" for i in range(5)))
    ckpt = tiny_checkpoint(tmp_path / "m.pth", ["DATA.PATH_TO_DATA_DIR", str(data)])
    assert predict.main([str(video), "--weights", str(ckpt), "--json", "--device", "cpu"]) == 0
    top = json.loads(capsys.readouterr().out)["results"][0]["top"]
    assert {t["name"] for t in top} == {f"action {i}" for i in range(5)}
    stored = tiny_checkpoint(tmp_path / "named.pth", ["DATA.PATH_TO_DATA_DIR", str(data)], class_names=list("abcde"))
    assert load_predictor(str(stored), device="cpu").class_names == list("abcde")  # the checkpoint's win
    (data / "classnames.txt").write_text("just one\n")
    with caplog.at_level("WARNING"):
        assert load_predictor(str(ckpt), device="cpu").class_names is None  # 1 name for 5 classes: unused
    assert "lists 1 class names, the model has 5 classes" in caplog.text


# ----------------------------------------------------------------------------- the test protocol
def _run_net_test_scores(tmp_path: Path, ckpt: Path) -> dict:
    """tools/run_net.py testing ``ckpt`` on its own config's test set -> its test_predictions row."""
    run_net = load_tool("run_net")
    cfg_file = tmp_path / "config.yaml"
    cfg_file.write_text(torch.load(ckpt, weights_only=True)["cfg"])
    out, logger = tmp_path / "run", logging.getLogger("timesformer")
    handlers, propagate = list(logger.handlers), logger.propagate
    try:
        assert run_net.main(["--cfg", str(cfg_file), "TRAIN.ENABLE", "False", "TEST.CHECKPOINT_FILE_PATH",
                             str(ckpt), "OUTPUT_DIR", str(out), "DATA_LOADER.NUM_WORKERS", "0"]) == 0
    finally:  # its console log would print into predict's JSON, which has a process of its own in use
        for h in set(logger.handlers) - set(handlers):
            logger.removeHandler(h)
            h.close()
        logger.propagate = propagate
    return json.loads((out / "test_predictions.jsonl").read_text().splitlines()[0])


def test_predict_scores_a_video_as_run_net_testing_does(tmp_path, capsys):
    """The video score is the config's test protocol (Kinetics: the middle clip x 3 crops), not
    clips covering the video: a 40-frame video gets the one clip 7, 15, 23, 31 (not 0..24 and a
    second clip of copies of the last frame), and its score equals run_net testing's."""
    video, ckpt = kinetics_test_set(tmp_path)
    row = _run_net_test_scores(tmp_path, ckpt)
    assert row["num_views"] == 3
    capsys.readouterr()
    assert predict.main([str(video), "--weights", str(ckpt), "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"] == {"dataset": "kinetics", "sampling": "middle clip", "temporal_views": 1,
                               "spatial_crops": 3, "crops": ["left", "centre", "right"], "num_frames": 4,
                               "sampling_rate": 8, "target_fps": 30.0, "short_side": 32, "crop_size": 32,
                               "ensemble": "softmax", "multi_label": False}
    r = out["results"][0]
    assert (r["num_clips"], r["num_crops"]) == (1, 3) and "timeline" not in r
    assert r["clips"] == [{"clip": 0, "frames": [7, 15, 23, 31], "start_s": 0.233, "end_s": 1.067}]
    assert len(r["top"]) == 5
    for t in r["top"]:
        assert t["score"] == pytest.approx(row["scores"][t["label"]], abs=1e-5)


def test_predict_scores_a_howto100m_video_as_run_net_testing_does(tmp_path, capsys):
    """HowTo100M's test protocol is the clips covering the video (data/sampling.py): predict takes
    the same views as the test split, so the same score."""
    video, ckpt = kinetics_test_set(tmp_path, num_frames=70, dataset="howto100m")
    row = _run_net_test_scores(tmp_path, ckpt)
    capsys.readouterr()
    assert predict.main([str(video), "--weights", str(ckpt), "--json", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["protocol"]["sampling"] == "non-overlapping clips covering the video"
    r = out["results"][0]
    assert row["num_views"] == r["num_clips"] * r["num_crops"] == sampling.num_cover_clips(70, 4, 8, 30, 30) * 3
    for t in r["top"]:
        assert t["score"] == pytest.approx(row["scores"][t["label"]], abs=1e-5)


def test_timeline_windows_are_whole_clips_the_last_ending_at_the_video_end(tmp_path, capsys):
    """--timeline adds a score per window: every clip length along the video, the last aligned to
    its end (100 frames: windows from 0, 32, 64 and 75, not 96, which would be mostly copies of the
    last frame); the video score is still the protocol's middle clip."""
    video, ckpt = kinetics_test_set(tmp_path, num_frames=100)
    assert predict.main([str(video), "--weights", str(ckpt), "--json", "--device", "cpu"]) == 0
    plain = json.loads(capsys.readouterr().out)["results"][0]
    assert predict.main([str(video), "--weights", str(ckpt), "--json", "--device", "cpu", "--timeline"]) == 0
    r = json.loads(capsys.readouterr().out)["results"][0]
    assert r["top"] == plain["top"] and r["clips"] == plain["clips"] and r["num_clips"] == 1
    windows = r["timeline"]
    assert [w["window"] for w in windows] == [0, 1, 2, 3]
    assert [w["frames"] for w in windows] == [[0, 8, 16, 24], [32, 40, 48, 56], [64, 72, 80, 88], [75, 83, 91, 99]]
    assert [(w["start_s"], w["end_s"]) for w in windows] == [(0.0, 0.833), (1.067, 1.9), (2.133, 2.967),
                                                               (2.5, 3.333)]
    for w in windows:
        assert abs(sum(t["score"] for t in w["top"]) - 1) < 1e-4  # all 5 classes, mean softmax of 3 crops
    assert predict.main([str(video), "--weights", str(ckpt), "--device", "cpu", "--timeline"]) == 0
    text = capsys.readouterr().out
    assert "1 clip(s) x 3 crop(s)" in text and "middle clip" in text
    assert "window   3      2.50-    3.33 s" in text
