"""The compiled SAM encoder: it falls back to the eager encoder where compiling fails, and agrees with it where not."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch._dynamo
from sam_helpers import build_tiny_sam

from wssam.pseudo_label.labelers.sam_attention import use_fused_attention
from wssam.pseudo_label.labelers.sam_compile import CompiledEncoder


@pytest.fixture
def encoder() -> torch.nn.Module:
    torch.manual_seed(0)
    encoder = build_tiny_sam(64).image_encoder
    use_fused_attention(encoder)
    yield encoder
    torch._dynamo.reset()  # no compiled code or guards leak into other tests


def test_a_failing_compiler_leaves_the_eager_encoder(encoder: torch.nn.Module, capsys: pytest.CaptureFixture) -> None:
    attempts = []

    def broken(*args: object, **kwargs: object) -> None:
        attempts.append(kwargs)
        raise RuntimeError("no compiler here\nsecond line")

    compiled = CompiledEncoder(encoder, compiler=broken)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(compiled(x), encoder(x))
        assert torch.equal(compiled(x), encoder(x))
    assert len(attempts) == 1 and attempts[0]["options"] == {"freezing": True}  # tried once, weights frozen
    warning = capsys.readouterr().err.strip().splitlines()
    assert warning == ["warning: torch.compile of the SAM encoder failed (no compiler here); running it eagerly"]


def test_without_a_cpp_compiler_the_real_compile_falls_back() -> None:
    """A machine without a C++ compiler (inductor reads it from ``CXX``), in its own process since inductor
    remembers which compiler works: the real compile is refused, the encoder runs eagerly with the same result."""
    code = (
        "import torch; from sam_helpers import build_tiny_sam;"
        "from wssam.pseudo_label.labelers.sam_compile import CompiledEncoder;"
        "torch.manual_seed(0); encoder = build_tiny_sam(64).image_encoder; compiled = CompiledEncoder(encoder);"
        "x = torch.randn(1, 3, 64, 64);"
        "print(torch.equal(compiled(x), encoder(x)), compiled.failed)"
    )
    env = dict(os.environ, CXX="wssam-test-no-such-compiler")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parent, env=env, capture_output=True,
                          text=True, timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True"]
    assert "torch.compile of the SAM encoder failed" in done.stderr and "running it eagerly" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("bf16", [False, True])
def test_the_compiled_encoder_agrees_with_the_eager_one(encoder: torch.nn.Module, bf16: bool) -> None:
    """Compiled with a working C++ compiler (this machine's): fp32 to 1e-4; bf16 to bf16 rounding (fused loops round
    intermediate sums less often than eager bf16 operations do)."""
    eager = copy.deepcopy(encoder)
    compiled = CompiledEncoder(encoder)
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        found, expected = compiled(x).float(), eager(x).float()
    assert not compiled.failed
    if bf16:
        assert (found - expected).abs().mean() < 0.01 and (found - expected).abs().max() < 0.1
    else:
        torch.testing.assert_close(found, expected, atol=1e-4, rtol=1e-4)
