"""hubconf.py: torch.hub loads every model by its timm name from the repository itself
(``source="local"``, no network), its dependencies are installed, and ``pretrained_cfg`` picks the
released weights (served by a stand-in ``snapshot_download``; nothing is downloaded)."""
import importlib.util

import pytest
import torch

from tests.checkpoints import install_fake_hub, write_hf_timesformer
from tests.conftest import ROOT, TINY
from timesformer.checkpoint.zoo import ARCHITECTURES
from timesformer.models import TimeSformer

NAMES = sorted(ARCHITECTURES)


def _hubconf():
    spec = importlib.util.spec_from_file_location("hubconf", ROOT / "hubconf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_hubconf_lists_every_model_and_installed_dependencies():
    hubconf = _hubconf()
    entries = sorted(n for n in dir(hubconf) if callable(getattr(hubconf, n)) and not n.startswith("_"))
    assert entries == NAMES  # what torch.hub.list shows
    assert [d for d in hubconf.dependencies if importlib.util.find_spec(d) is None] == []


@pytest.mark.parametrize("name", NAMES)
def test_torch_hub_load_from_the_repository(name):
    model = torch.hub.load(str(ROOT), name, source="local", pretrained=False, **TINY)
    assert isinstance(model, TimeSformer)
    assert model.attention_type == ARCHITECTURES[name]["attention_type"]
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 3, 4, 32, 32)).shape == (1, 5)


def test_torch_hub_pretrained_weights_by_tag(tmp_path, monkeypatch):
    write_hf_timesformer(tmp_path / "snapshot")
    calls = install_fake_hub(monkeypatch, tmp_path / "snapshot", served="facebook/timesformer-hr-finetuned-ssv2")
    model = torch.hub.load(str(ROOT), "timesformer_hr_base_patch16_448", source="local", pretrained=True,
                           pretrained_cfg="ssv2")
    assert [c[0] for c in calls] == ["facebook/timesformer-hr-finetuned-ssv2"]
    assert model.class_names == [f"class{i}" for i in range(5)]
