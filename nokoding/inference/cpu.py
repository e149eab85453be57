"""What the CPU can do: instruction-set features, clock and nominal peak FLOP/s per data type.

:func:`cpu_capabilities` reads the feature flags of ``/proc/cpuinfo`` (Linux) and torch's
own view (``torch.backends.cpu.get_cpu_capability()``); the benchmarks record it with every
result, and ``runtime="auto"`` reads :attr:`CpuCapabilities.bf16_matrix` from it.

:func:`peak_flops` gives the nominal peak the way MFU is computed on a GPU: cores × clock ×
FLOPs per cycle and core for the data type, from the detected features:

==================  ===========================================================  ============
data type           instruction path (per core, per cycle)                       FLOP/cycle
==================  ===========================================================  ============
fp32                two 512-bit FMA pipes (Intel AVX-512; AMD Zen 5)              64
fp32                two 256-bit FMA pipes (AVX2 + FMA; AMD Zen 4's AVX-512)      32
bf16                AMX tiles (``amx_bf16``)                                     1,024
bf16                AVX-512-BF16 dot products, two 512-bit pipes (Zen 4: 256)    128 (64)
bf16                no bf16 instructions: converted to fp32                      fp32's
int8                AMX tiles (``amx_int8``)                                     2,048
int8                AVX-512 VNNI, two 512-bit pipes (Zen 4: 256)                 256 (128)
int8                AVX-VNNI, two 256-bit pipes                                  128
int8                AVX2 without VNNI                                            64
==================  ===========================================================  ============

(one fused multiply-add = 2 FLOPs; int8 "FLOPs" are multiply-adds of int8 pairs, ×2). AMD's
Zen 4 executes 512-bit instructions in two halves; Zen 5 (which adds
``avx512_vp2intersect`` among AMD's flags) has full-width pipes. Cores: the CPUs this
process may use (:func:`nokoding.inference.runtime.available_cpus`; in a virtual machine a
vCPU may be a hyperthread, which would halve the real peak). Clock: the highest of
``cpuinfo_max_freq`` and ``/proc/cpuinfo``'s current "cpu MHz" — virtual machines often
report only the base clock, while cores run faster under turbo, so a share of "peak" above
100 % means the clock was higher than reported. These are nominal figures for comparing
runs, not guarantees.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import torch

__all__ = ["CpuCapabilities", "cpu_capabilities", "describe", "flops_per_cycle", "parse_cpuinfo", "peak_flops"]

#: The /proc/cpuinfo flags that matter for inference kernels, in the order reported.
FLAGS = ("amx_tile", "amx_bf16", "amx_int8", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "avx2", "fma",
         "avx512_vp2intersect")


@dataclass(frozen=True)
class CpuCapabilities:
    """The CPU as seen by this process.

    Attributes:
        model: "model name" from ``/proc/cpuinfo``.
        vendor: "vendor_id" (``GenuineIntel``, ``AuthenticAMD``, …).
        flags: those of :data:`FLAGS` the CPU reports.
        torch_capability: ``torch.backends.cpu.get_cpu_capability()`` (e.g. ``AVX512``).
        cores: CPUs this process may use.
        clock_ghz: see the module docstring (``None`` when unknown).
    """

    model: str
    vendor: str
    flags: tuple[str, ...]
    torch_capability: str
    cores: int
    clock_ghz: float | None

    def has(self, flag: str) -> bool:
        """Whether the CPU reports ``flag``."""
        return flag in self.flags

    @property
    def bf16_matrix(self) -> bool:
        """bf16 matrix instructions (AMX-BF16 or AVX-512-BF16): where bf16 runs faster than fp32."""
        return self.has("amx_bf16") or self.has("avx512_bf16")

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary, with the peak of each data type in GFLOP/s."""
        out = asdict(self)
        out["flags"] = list(self.flags)
        out["bf16_matrix"] = self.bf16_matrix
        out["peak_gflops"] = {d: (None if (p := peak_flops(d, self)) is None else round(p / 1e9, 1))
                              for d in ("fp32", "bf16", "int8")}
        return out


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""


@lru_cache(maxsize=1)
def cpu_capabilities() -> CpuCapabilities:
    """Detect the CPU's capabilities once per process (module docstring)."""
    from nokoding.inference.runtime import available_cpus

    return parse_cpuinfo(
        _read("/proc/cpuinfo"), available_cpus(), _read("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    )


def parse_cpuinfo(cpuinfo: str, cores: int, max_freq_khz: str = "") -> CpuCapabilities:
    """:class:`CpuCapabilities` from the text of ``/proc/cpuinfo`` (its first processor block),
    the number of usable CPUs and the text of ``cpufreq/cpuinfo_max_freq`` (kHz; may be empty)."""
    info: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if info:
                break  # the first processor's block is enough
            continue
        info.setdefault(key.strip(), value.strip())
    present = set(info.get("flags", "").split())
    clocks = []
    try:
        clocks.append(float(info["cpu MHz"]) / 1000)
    except (KeyError, ValueError):
        pass
    if max_freq_khz.strip().isdigit():
        clocks.append(int(max_freq_khz.strip()) / 1e6)
    return CpuCapabilities(
        model=info.get("model name", "unknown"),
        vendor=info.get("vendor_id", "unknown"),
        flags=tuple(f for f in FLAGS if f in present),
        torch_capability=str(torch.backends.cpu.get_cpu_capability()),
        cores=cores,
        clock_ghz=max(clocks) if clocks else None,
    )


def flops_per_cycle(dtype: str, cpu: CpuCapabilities) -> int:
    """Nominal FLOPs per cycle and core for ``dtype`` (``fp32``, ``bf16``, ``int8``); module docstring.

    Raises:
        ValueError: for another data type.
    """
    wide = cpu.has("avx512f") and not (cpu.vendor == "AuthenticAMD" and not cpu.has("avx512_vp2intersect"))
    fp32 = 64 if wide else (32 if cpu.has("fma") or cpu.has("avx512f") else 16)
    if dtype == "fp32":
        return fp32
    if dtype == "bf16":
        if cpu.has("amx_bf16"):
            return 1024
        return (128 if wide else 64) if cpu.has("avx512_bf16") else fp32
    if dtype == "int8":
        if cpu.has("amx_int8"):
            return 2048
        if cpu.has("avx512_vnni"):
            return 256 if wide else 128
        return 128 if cpu.has("avx_vnni") else (64 if cpu.has("avx2") else 32)
    raise ValueError(f"unknown data type {dtype!r}; use fp32, bf16 or int8")


def peak_flops(dtype: str, cpu: CpuCapabilities | None = None, cores: int | None = None) -> float | None:
    """Nominal peak FLOP/s of ``cores`` (default: all this process may use) for ``dtype``;
    ``None`` when the clock is unknown."""
    cpu = cpu or cpu_capabilities()
    if not cpu.clock_ghz:
        return None
    return float((cores or cpu.cores) * cpu.clock_ghz * 1e9 * flops_per_cycle(dtype, cpu))


def describe() -> str:
    """One line: model, torch capability, the flags that matter, cores and clock."""
    cpu = cpu_capabilities()
    clock = f"{cpu.clock_ghz:.2f} GHz" if cpu.clock_ghz else "clock unknown"
    return f"{cpu.model} ({cpu.torch_capability}; {' '.join(cpu.flags) or 'no AVX2'}), {cpu.cores} CPUs, {clock}"

