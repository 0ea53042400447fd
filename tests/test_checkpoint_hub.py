"""Hugging Face hub ids and local paths. A hub id goes through ``huggingface_hub.snapshot_download``,
the one network function, replaced here by one that returns a folder the test wrote with
transformers' ``save_pretrained`` (nothing is downloaded); a name that looks like a file is never
taken for a hub id or a timm name."""

import pytest
import torch

from tests.checkpoints import HUB_REPO_ID, hf_logits, install_fake_hub, write_hf_timesformer
from timesformer.checkpoint import FetchError
from timesformer.checkpoint.hub import looks_like_hub_id
from timesformer.models import from_pretrained


def test_from_pretrained_with_a_hub_id(tmp_path, monkeypatch):
    hf = write_hf_timesformer(tmp_path / "snapshot")
    calls = install_fake_hub(monkeypatch, tmp_path / "snapshot")
    model = from_pretrained(HUB_REPO_ID).eval()
    assert [c[0] for c in calls] == [HUB_REPO_ID]
    assert set(calls[0][1]["allow_patterns"]) == {"config.json", "model.safetensors", "pytorch_model.bin"}
    assert model.class_names == [f"class{i}" for i in range(5)] and model.attention_type == "divided_space_time"
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert (model(x) - hf_logits(hf, x)).abs().max() <= 1e-4


def test_an_unreachable_hub_id_is_a_fetch_error(tmp_path, monkeypatch):
    install_fake_hub(monkeypatch, tmp_path)
    with pytest.raises(FetchError, match="could not fetch 'owner/missing' from the Hugging Face hub.*"
                                         "Without network access"):
        from_pretrained("owner/missing")


@pytest.mark.parametrize("name", ["checkpoints/TimeSformer_divST_8x32_224_K400.pyth", "runs/model.safetensors",
                                  "vit_base_patch16_224.pth", "./runs/last", "/abs/model", "~/runs/x.bin"])
def test_a_missing_file_is_never_a_hub_id_or_timm_name(tmp_path, monkeypatch, name):
    calls = install_fake_hub(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError) as e:
        from_pretrained(name)
    message = str(e.value)
    assert name.lstrip("~") in message and "expected a weights file (.pyth, .pth" in message
    assert "could not fetch" not in message and calls == []  # the hub was never asked
    assert not looks_like_hub_id(name)
    assert looks_like_hub_id("facebook/timesformer-base-finetuned-k400")
