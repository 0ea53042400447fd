"""Machines without internet access: a timm name or hub id fails within seconds with the INSTALL.md
advice (huggingface_hub alone retries an unreachable endpoint for about a minute), HF_HUB_OFFLINE is
honoured without any connection attempt, and weights already in the Hugging Face cache are used.
Nothing downloads: the endpoint is a closed local port, the cache a folder the test writes."""
import os
import re
import socket
import subprocess
import sys

import pytest
import torch

from tests.checkpoints import HUB_REPO_ID, install_fake_hub, write_hf_timesformer
from tests.conftest import ROOT
from timesformer.checkpoint import hub, read_source
from timesformer.errors import FetchError

RECIPE_VIT = "vit_base_patch16_224.orig_in21k_ft_in1k"  # configs/_BASE_/TimeSformer_recipe.yaml
VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _offline_env(tmp_path) -> dict:
    """No HF_HUB_OFFLINE, an endpoint nothing listens on, an empty cache of this test's own."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env.update(HF_ENDPOINT=f"http://127.0.0.1:{_closed_port()}", HF_HOME=str(tmp_path / "hf_home"),
               PYTHONPATH=str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""))
    return env


def _python(call: str, env: dict, then: str = "") -> tuple:
    """(exit status, output, seconds) of a real process running ``call`` (a statement) after its imports
    (timm, torch, timesformer), then ``then``; seconds: ``call`` alone (process start-up not counted)."""
    code = ("import time, timm, torch\n"
            "from timesformer.checkpoint import read_source\n"
            "from timesformer.checkpoint.hub import read_timm\n"
            "start = time.perf_counter()\n"
            "try:\n"
            f"    {call}\n"
            "finally:\n"
            "    print(f'call took {time.perf_counter() - start:.3f} s')\n"
            f"{then}")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    out = proc.stdout + proc.stderr
    took = re.search(r"call took ([0-9.]+) s", out)
    return proc.returncode, out, float(took.group(1)) if took else float("inf")


def test_an_unreachable_hub_fails_fast_with_the_advice(tmp_path):
    """A real process, as on a cluster node: 55 s of retries before the fix."""
    rc, out, seconds = _python(f"read_source({RECIPE_VIT!r})", _offline_env(tmp_path))
    assert rc != 0 and "FetchError" in out and RECIPE_VIT in out, out
    assert "cannot connect to http://127.0.0.1:" in out and "INSTALL.md" in out, out
    assert "Retrying" not in out
    assert seconds < 20, f"{seconds:.1f} s to fail"


def test_weights_in_the_cache_load_while_the_hub_is_unreachable(tmp_path):
    """The layout huggingface_hub writes (refs/main -> snapshots/<commit>/model.safetensors)."""
    import timm
    from safetensors.torch import save_file

    env = _offline_env(tmp_path)
    vit = timm.create_model("vit_base_patch16_224", pretrained=False, num_classes=1000, **VIT)
    repo = os.path.join(env["HF_HOME"], "hub", f"models--timm--{RECIPE_VIT}")
    commit = "0" * 40
    os.makedirs(os.path.join(repo, "refs"))
    os.makedirs(os.path.join(repo, "snapshots", commit))
    with open(os.path.join(repo, "refs", "main"), "w") as f:
        f.write(commit)
    save_file(vit.state_dict(), os.path.join(repo, "snapshots", commit, "model.safetensors"))
    torch.save(vit.state_dict(), tmp_path / "expected.pth")
    check = (f"expected = torch.load({str(tmp_path / 'expected.pth')!r}, weights_only=True)\n"
             "assert all(torch.equal(w.state_dict[k], v) for k, v in expected.items())\n"
             "print('loaded', w.layout, w.meta['num_heads'])\n")
    rc, out, seconds = _python(f"w = read_timm({RECIPE_VIT!r}, **{VIT!r})", env, check)
    assert rc == 0 and "loaded timm 2" in out, out
    assert "Retrying" not in out and seconds < 20, f"{seconds:.1f} s"


def test_the_hub_is_checked_once_per_process(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    hub.reset_hub_check()
    attempts = []
    connect = socket.create_connection
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: attempts.append(a) or connect(*a, **k))
    for _ in range(2):
        with pytest.raises(FetchError, match="cannot connect to http://127.0.0.1"):
            read_source(RECIPE_VIT)
    calls = install_fake_hub(monkeypatch, tmp_path)
    with pytest.raises(FetchError, match="could not fetch 'owner/missing' from the Hugging Face hub.*INSTALL.md"):
        read_source("owner/missing")
    assert len(attempts) == 1  # one connection attempt for the whole process
    assert calls == [("owner/missing", {"allow_patterns": ["config.json", "model.safetensors", "pytorch_model.bin"],
                                        "local_files_only": True})]  # the cache only


def test_hf_hub_offline_is_honoured_without_a_connection(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.reset_hub_check()
    attempts = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: attempts.append(a))
    with pytest.raises(FetchError, match="HF_HUB_OFFLINE is set.*INSTALL.md"):
        read_source(RECIPE_VIT)
    write_hf_timesformer(tmp_path / "snapshot")
    install_fake_hub(monkeypatch, tmp_path / "snapshot")  # a hub id in the cache still loads
    assert read_source(HUB_REPO_ID).layout == "hf"
    assert attempts == []
