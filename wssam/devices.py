"""Devices and precision: what ``device: auto|cpu|cuda`` and ``precision: auto|bf16|fp32`` mean on this machine."""

from __future__ import annotations

import contextlib

import torch

from wssam.io import InputError


def resolve_device(name: str, *, key: str = "device") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` without a GPU is an InputError naming ``key``."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError(f"parameter '{key}' is cuda but no CUDA device is available; use auto or cpu")
    return torch.device(name)


def bf16_is_native(device: torch.device) -> bool:
    """True where bf16 arithmetic is native: a CUDA device that supports it, or a CPU with AVX512-BF16/AMX.

    On a CPU whose flags Linux lists (x86), the flags decide: PyTorch's oneDNN check says yes to any AVX512 CPU
    (Skylake-SP, Cascade Lake, Ice Lake), where bf16 is emulated and slower than fp32. Elsewhere (e.g. ARM, whose
    /proc/cpuinfo lists "Features") that check decides.
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    flags = cpu_flags()
    if flags:
        return any(flag in flags for flag in BF16_CPU_FLAGS)
    return onednn_bf16_supported()


def onednn_bf16_supported() -> bool:
    """PyTorch's oneDNN check for bf16 on this CPU (False where the build has none)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` (auto | bf16 | fp32) runs bf16 autocast on ``device``."""
    if precision not in ("auto", "bf16", "fp32"):
        raise ValueError(f"precision must be auto, bf16 or fp32, got {precision!r}")
    return precision == "bf16" or (precision == "auto" and bf16_is_native(device))


def autocast(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    """bf16 autocast on ``device`` when ``bf16``, else a context that changes nothing."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


#: the x86 CPU flags of native bf16 arithmetic, as Linux's /proc/cpuinfo names them
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> set[str]:
    """The first processor's flags in ``cpuinfo`` (Linux); an empty set where the file is absent or unreadable."""
    try:
        with open(cpuinfo, encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def describe_cpu_bf16() -> str:
    """One phrase for reports: ``native (avx512_bf16)``, ``native (amx_bf16, avx512_bf16)`` or ``emulated (...)``;
    where /proc/cpuinfo is unavailable, what PyTorch's oneDNN check says."""
    flags = cpu_flags()
    found = [flag for flag in BF16_CPU_FLAGS if flag in flags]
    if found:
        return f"native ({', '.join(found)})"
    if flags:
        return f"emulated (no {' or '.join(BF16_CPU_FLAGS)})"
    return "native" if onednn_bf16_supported() else "emulated"
