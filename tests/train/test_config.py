"""Training config: bfloat16 autocast only where the CPU computes it natively."""

from __future__ import annotations

from pathlib import Path

from deeptrust.train.config import OptimConfig, native_bf16


def cpuinfo(tmp_path: Path, flags: str) -> Path:
    path = tmp_path / f"cpuinfo-{abs(hash(flags))}"
    path.write_text(f"processor\t: 0\nflags\t\t: fpu sse2 avx2 {flags}\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    return path


def test_bf16_flags_are_read_from_cpuinfo(tmp_path: Path) -> None:
    assert native_bf16(cpuinfo(tmp_path, "avx512f avx512_bf16"))
    assert native_bf16(cpuinfo(tmp_path, "amx_tile amx_bf16 amx_int8"))
    assert not native_bf16(cpuinfo(tmp_path, "avx512f avx512_vnni"))  # AVX-512 without bf16: emulated
    assert not native_bf16(cpuinfo(tmp_path, "avx512_bf16x"))  # a whole flag, not a prefix
    assert not native_bf16(tmp_path / "missing")


def test_bf16_defaults_to_what_this_cpu_has_and_an_explicit_choice_wins() -> None:
    assert OptimConfig().bf16 is None
    assert OptimConfig().autocast_bf16 is native_bf16()
    assert OptimConfig(bf16=True).autocast_bf16 is True
    assert OptimConfig(bf16=False).autocast_bf16 is False
