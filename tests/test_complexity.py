"""FLOPs per view and the model_info tool agree with the paper."""
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT, TINY, load_tool
from timesformer.config.defaults import ATTENTION_TYPES
from timesformer.models import TimeSformer
from timesformer.models.complexity import count_by_depth, count_flops, count_params


def vit_b_flops(frames: int, size: int, depth: int = 12) -> int:
    model = TimeSformer(img_size=size, num_frames=frames, depth=depth)
    return count_flops(model, torch.zeros(1, 3, frames, size, size))


def test_divided_8x224_flops_per_view():
    assert round(vit_b_flops(8, 224) / 1e9, 1) == 195.8


@pytest.mark.parametrize("frames,size,gflops", [(16, 448, 1703), (96, 224, 2380)])
def test_divided_large_clip_flops_per_view(frames, size, gflops):
    # FLOPs are linear in depth: count 1 and 2 blocks (fast to trace) and extend to 12 exactly.
    one, two = vit_b_flops(frames, size, depth=1), vit_b_flops(frames, size, depth=2)
    assert round((one + 11 * (two - one)) / 1e9) == gflops


def test_model_info_tool_prints_the_table():
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools/model_info.py"), "--all-schemes", "MODEL.EMBED_DIM", "32",
         "MODEL.DEPTH", "1", "MODEL.NUM_HEADS", "2", "DATA.TEST_CROP_SIZE", "64", "DATA.TRAIN_CROP_SIZE", "64"],
        capture_output=True, text=True, check=True, cwd=ROOT).stdout
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and "scheme" not in ln]
    assert [r.split("|")[1].strip() for r in rows] == ["space_only", "joint_space_time", "divided_space_time",
                                                        "sparse_local_global", "axial"]
    axial = rows[-1].split("|")
    assert axial[6].strip() == str(1 + 8 * 4 * 4) and axial[7].strip() == "8+4+5"


def test_importing_fvcore_prints_no_jit_script_deprecation():
    # fvcore.nn calls torch.jit.script at import; that one FutureWarning is silenced, nothing else:
    # no filter of ours stays behind, and another FutureWarning still reaches the user.
    code = ("import warnings; import timesformer.models.complexity; "
            "assert not [f for f in warnings.filters if f[1] is not None and 'jit' in f[1].pattern "
            "and 'script' in f[1].pattern], warnings.filters; "
            "warnings.warn('still shown', FutureWarning)")
    out = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert "torch.jit.script" not in out.stderr, out.stderr
    assert "FutureWarning: still shown" in out.stderr


@pytest.mark.parametrize("scheme", ATTENTION_TYPES)
def test_counting_no_block_and_one_block_then_extending_is_exact(scheme):
    # model_info's fast path: the same integers as counting the whole model, for every scheme
    kwargs = dict(TINY, depth=3, attention_type=scheme)
    clip = torch.zeros(1, 3, TINY["num_frames"], TINY["img_size"], TINY["img_size"])
    full = TimeSformer(**kwargs)
    fast = count_by_depth(lambda depth: TimeSformer(**dict(kwargs, depth=depth)), 3, clip)
    assert fast == (count_params(full), count_flops(full, clip))


def test_model_info_prints_the_paper_numbers_for_vit_b(capsys):
    # the install check of INSTALL.md: ViT-B divided 8x224, 400 classes (SPEC: 121.566 M, 195.8 GFLOPs)
    assert load_tool("model_info").main(["MODEL.NUM_CLASSES", "400"]) == 0
    assert "| divided_space_time | 8x224 | 400 | 121.566 | 195.8 | 1569 | 8+197 |" in capsys.readouterr().out
