"""Shared test fixtures: tiny model sizes, CPU only, nothing downloaded."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a test that reaches for the network fails loudly
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# Keyword arguments of a model small enough to run forward and backward in milliseconds.
TINY = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, num_frames=4, num_classes=5)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def tiny_kwargs():
    return dict(TINY)
