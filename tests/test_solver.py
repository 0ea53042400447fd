"""Solver: LR policies with warm-up, weight-decay groups, optimizer choice, config validation."""
import math

import pytest
import torch

from timesformer.config import ConfigError, get_cfg, load_config
from timesformer.engine import check_config
from timesformer.models import TimeSformer
from timesformer.solver import build_optimizer, get_lr_at_epoch, param_groups, set_lr


def _cfg(**solver):
    cfg = get_cfg()
    for k, v in solver.items():
        cfg.SOLVER[k] = v
    return cfg


def test_steps_with_relative_lrs_matches_the_paper_recipe():
    cfg = _cfg()  # 0.005, x0.1 at 11 and x0.01 at 14
    assert get_lr_at_epoch(cfg, 0.0) == pytest.approx(0.005)
    assert get_lr_at_epoch(cfg, 10.99) == pytest.approx(0.005)
    assert get_lr_at_epoch(cfg, 11.0) == pytest.approx(0.0005)
    assert get_lr_at_epoch(cfg, 14.5) == pytest.approx(0.00005)


def test_cosine_and_linear_warmup_per_iteration():
    cfg = _cfg(LR_POLICY="cosine", BASE_LR=1.0, COSINE_END_LR=0.1, MAX_EPOCH=10, WARMUP_EPOCHS=2.0,
               WARMUP_START_LR=0.0)
    end_of_warmup = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.2))
    assert get_lr_at_epoch(cfg, 0.0) == pytest.approx(0.0)
    assert get_lr_at_epoch(cfg, 1.0) == pytest.approx(end_of_warmup / 2)  # linear, fractional epochs
    assert get_lr_at_epoch(cfg, 0.25) == pytest.approx(end_of_warmup / 8)
    assert get_lr_at_epoch(cfg, 2.0) == pytest.approx(end_of_warmup)
    assert get_lr_at_epoch(cfg, 5.0) == pytest.approx(0.55)
    assert get_lr_at_epoch(cfg, 10.0) == pytest.approx(0.1)


def test_zero_wd_exempts_embeddings_cls_norms_and_biases(tiny_kwargs):
    model = TimeSformer(**tiny_kwargs)
    names = {id(p): n for n, p in model.named_parameters()}
    groups = param_groups(model, 1e-4, zero_wd_1d=True)
    exempt = {names[id(p)] for g in groups if g["weight_decay"] == 0 for p in g["params"]}
    decayed = {names[id(p)] for g in groups if g["weight_decay"] > 0 for p in g["params"]}
    assert {"model.pos_embed", "model.cls_token", "model.time_embed", "model.norm.weight",
            "model.head.bias", "model.blocks.0.attn.qkv.bias"} <= exempt
    assert "model.blocks.0.attn.qkv.weight" in decayed and "model.head.weight" in decayed
    assert exempt.isdisjoint(decayed) and len(exempt | decayed) == len(names)
    groups = param_groups(model, 1e-4, zero_wd_1d=False)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 1e-4


@pytest.mark.parametrize("method,cls", [("sgd", torch.optim.SGD), ("adamw", torch.optim.AdamW)])
def test_build_optimizer(tiny_kwargs, method, cls):
    cfg = _cfg(OPTIMIZING_METHOD=method, ZERO_WD_1D_PARAM=True, BETAS=[0.8, 0.99])
    opt = build_optimizer(cfg, TimeSformer(**tiny_kwargs))
    assert isinstance(opt, cls)
    if method == "sgd":
        assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    else:
        assert opt.defaults["betas"] == (0.8, 0.99)
    set_lr(opt, 0.123)
    assert all(g["lr"] == 0.123 for g in opt.param_groups)


@pytest.mark.parametrize("key,value", [("SOLVER.OPTIMIZING_METHOD", "adam"), ("SOLVER.LR_POLICY", "poly"),
                                       ("SOLVER.LRS", "[1.0, 0.1]"), ("TRAIN.MIXED_PRECISION", "fp8"),
                                       ("TRAIN.MAX_BATCH_PER_PROCESS", "-1"), ("TEST.ENSEMBLE_METHOD", "vote")])
def test_bad_values_are_named(key, value):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        check_config(load_config(None, [key, value]))
