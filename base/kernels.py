"""One kernel family for every x86-64 machine, so that a seeded training sums in one order.

Why: torch picks its CPU kernels by instruction set when it first runs an op. A reduction
vectorised 16 lanes wide (AVX-512) adds in another order than one 8 lanes wide (AVX2), so the same
seed, threads and code train other weights. Measured on an AVX2 machine (issue 26): the digits
AdderNet, seed 0, 40 epochs, reaches 99.33 % with torch's AVX2 kernels and 99.78 % with its
DEFAULT (scalar) kernels; a fresh AVX-512 machine reached 98.44 %. Three libraries dispatch on
their own, and each has a documented switch:

* ATen (reductions, the adder layers, BatchNorm, losses): ``ATEN_CPU_CAPABILITY``;
* oneDNN (the CNN's conv2d): ``ONEDNN_MAX_CPU_ISA``;
* MKL (Linear's matrix products): ``MKL_CBWR`` (conditional numerical reproducibility).

:func:`pin_kernels` sets all three to AVX2 where the CPU has AVX2, unless the user set them. Each
is read once, when its library first runs, so the pin must happen before torch runs any op:
``import adderhw`` calls it. A process that ran torch ops before importing adderhw keeps the
kernels it had; :func:`adderhw.golden.determinism.kernel_fingerprint` reports what is in use, and
the model cache is keyed by it. Other architectures (aarch64) are left alone: they train
reproducibly among themselves, with their own weights hash.
"""
import os
import platform

__all__ = ["PINNED_ISA", "PIN", "cpu_has_avx2", "pin_kernels"]

#: the instruction set every x86-64 machine trains with (torch's name for it)
PINNED_ISA = "AVX2"

#: the environment switches of the three libraries that choose kernels by instruction set
PIN = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def cpu_has_avx2(cpuinfo="/proc/cpuinfo"):
    """True when this is an x86-64 CPU whose flags include avx2 (Linux's /proc/cpuinfo); False
    elsewhere. ATen does not check the flag itself: told "avx2" on a CPU without it, it would run
    illegal instructions."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    try:
        with open(cpuinfo) as f:
            for line in f:
                if line.startswith("flags"):
                    return "avx2" in line.split()
    except OSError:
        return False
    return False


def pin_kernels(environ=os.environ, has_avx2=None):
    """Set the switches of :data:`PIN` in ``environ`` where the CPU has AVX2 and the user has not set
    them; returns the names this call set."""
    if not (cpu_has_avx2() if has_avx2 is None else has_avx2):
        return []
    set_now = [name for name in PIN if name not in environ]
    for name in set_now:
        environ[name] = PIN[name]
    return set_now
