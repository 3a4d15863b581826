"""The SAM image encoder through ``torch.compile``, as an option that falls back to the eager encoder.

PyTorch's inductor turns the encoder into one program for its fixed input (1, 3, S, S): on a CPU it packs the
weights once for oneDNN (``freezing``: the weights become constants, which is right for a labeler that never trains)
and fuses the element-wise work (layer norms, casts, GELU, the relative-position bias with the logits, softmax) into
generated C++ loops. Measured on a 2-core CPU with AVX512-BF16 (vit_b, bf16 autocast, one thread's CPU time): the
compiled encoder takes 0.79 of segment-anything's eager forward where the eager labeler takes 0.93 (see the
README's Benchmarks). Compiling costs about half a minute once per process (inductor keeps a cache on disk, so
later processes compile faster); outputs agree with the eager encoder to bf16 rounding (the fused loops round
intermediate sums less often).

It needs a working C++ compiler (CPU) or Triton (CUDA). Where compiling or the compiled call fails, the encoder
runs eagerly from then on, with one warning line: the maps are the same either way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import torch


class CompiledEncoder:
    """Callable like ``encoder``: the compiled encoder, or ``encoder`` itself once compiling has failed.

    ``compiler`` (default ``torch.compile``) is a parameter so that a test can stand in for a machine without a
    C++ compiler. The compile happens at the first call, with that call's input.
    """

    def __init__(self, encoder: torch.nn.Module, compiler: Callable[..., Any] = torch.compile) -> None:
        self.encoder = encoder
        self.compiler = compiler
        self.compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        self.failed = False

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if not self.failed:
            try:
                if self.compiled is None:
                    self.compiled = self.compiler(self.encoder, dynamic=False, options={"freezing": True})
                return self.compiled(images)
            except Exception as error:  # a missing compiler, an inductor failure: many types, all mean "eager"
                self.failed = True
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
                print(f"warning: torch.compile of the SAM encoder failed ({reason}); running it eagerly",
                      file=sys.stderr)  # fmt: skip
        return self.encoder(images)
