"""CPU capability detection and the nominal peak FLOP/s it implies."""

from __future__ import annotations

import pytest

from nokoding.inference.cpu import cpu_capabilities, flops_per_cycle, parse_cpuinfo, peak_flops


def _cpuinfo(vendor: str, flags: str, mhz: str = "2000.000") -> str:
    block = f"processor\t: {{n}}\nvendor_id\t: {vendor}\nmodel name\t: Test CPU\ncpu MHz\t\t: {mhz}\nflags\t\t: {flags}\n"
    return block.format(n=0) + "\n" + block.format(n=1).replace(mhz, "1.0")


def test_intel_with_amx_gets_matrix_unit_peaks() -> None:
    cpu = parse_cpuinfo(_cpuinfo("GenuineIntel", "fpu avx2 fma avx512f avx512_bf16 avx512_vnni amx_tile amx_bf16 amx_int8"), 2)
    assert cpu.bf16_matrix and cpu.has("amx_bf16") and cpu.clock_ghz == pytest.approx(2.0)
    assert [flops_per_cycle(d, cpu) for d in ("fp32", "bf16", "int8")] == [64, 1024, 2048]
    assert peak_flops("fp32", cpu) == pytest.approx(2 * 2.0e9 * 64)
    assert peak_flops("bf16", cpu, cores=1) == pytest.approx(2.0e9 * 1024)


def test_amd_zen4_runs_512_bit_instructions_in_halves_and_zen5_does_not() -> None:
    flags = "avx2 fma avx512f avx512_bf16 avx512_vnni avx_vnni"
    zen4 = parse_cpuinfo(_cpuinfo("AuthenticAMD", flags), 2)
    zen5 = parse_cpuinfo(_cpuinfo("AuthenticAMD", flags + " avx512_vp2intersect"), 2)
    assert [flops_per_cycle(d, zen4) for d in ("fp32", "bf16", "int8")] == [32, 64, 128]
    assert [flops_per_cycle(d, zen5) for d in ("fp32", "bf16", "int8")] == [64, 128, 256]


def test_avx2_only_has_no_bf16_matrix_support_and_bf16_counts_as_fp32() -> None:
    cpu = parse_cpuinfo(_cpuinfo("AuthenticAMD", "avx avx2 fma"), 4, "3500000\n")
    assert not cpu.bf16_matrix and cpu.flags == ("avx2", "fma")
    assert cpu.clock_ghz == pytest.approx(3.5)  # cpuinfo_max_freq beats the current clock
    assert flops_per_cycle("bf16", cpu) == flops_per_cycle("fp32", cpu) == 32
    assert flops_per_cycle("int8", cpu) == 64
    with pytest.raises(ValueError, match="fp16"):
        flops_per_cycle("fp16", cpu)


def test_unknown_clock_gives_no_peak_and_this_machine_is_described() -> None:
    assert peak_flops("fp32", parse_cpuinfo("", 1)) is None
    here = cpu_capabilities().as_dict()
    assert here["cores"] >= 1 and set(here["peak_gflops"]) == {"fp32", "bf16", "int8"}
    assert here["torch_capability"]
