"""What ``precision: auto`` means on a CPU: bf16 only where the CPU computes it natively."""

from __future__ import annotations

import pytest
import torch

import wssam.devices as devices

CPU = torch.device("cpu")
SKYLAKE_SP = {"avx2", "avx512f", "avx512bw", "avx512vl", "avx512dq"}  # AVX512, bf16 emulated


@pytest.mark.parametrize(
    ("flags", "onednn", "native", "phrase"),
    [
        (SKYLAKE_SP, True, False, "emulated (no avx512_bf16 or amx_bf16)"),  # oneDNN's check says yes to AVX512
        (SKYLAKE_SP | {"avx512_bf16"}, True, True, "native (avx512_bf16)"),
        ({"avx2", "amx_bf16", "avx512_bf16"}, True, True, "native (avx512_bf16, amx_bf16)"),
        ({"avx2"}, False, False, "emulated (no avx512_bf16 or amx_bf16)"),
        (set(), True, True, "native"),  # no x86 flags (e.g. ARM): oneDNN's check decides
        (set(), False, False, "emulated"),
    ],
)
def test_auto_precision_takes_bf16_only_where_the_cpu_computes_it(
    monkeypatch: pytest.MonkeyPatch, flags: set[str], onednn: bool, native: bool, phrase: str
) -> None:
    monkeypatch.setattr(devices, "cpu_flags", lambda: flags)
    monkeypatch.setattr(devices, "onednn_bf16_supported", lambda: onednn)
    assert devices.bf16_is_native(CPU) is native
    assert devices.uses_bf16("auto", CPU) is native
    assert devices.uses_bf16("bf16", CPU) and not devices.uses_bf16("fp32", CPU)
    assert devices.describe_cpu_bf16() == phrase  # the benchmarks' first line agrees with what auto chose
