"""Reproducible training: the same seed gives the same weights, bit for bit, on any machine of this
kind (the same torch build on a CPU).

Seeded generators alone are not enough. A float sum's result depends on its order, and torch's CPU
kernels split reductions (conv2d's weight gradient, BatchNorm's statistics, matrix products) by the
number of threads, which differs between machines (the issue's fresh run: 98.44 % against the
committed 99.11 % for the same seed). :func:`deterministic` therefore fixes, for the duration of a
``with`` block:

* the thread count (1 by default: every reduction in one fixed order, whatever ``nproc`` says);
* ``torch.use_deterministic_algorithms(True)`` (an op without a deterministic kernel raises instead
  of silently varying);
* torch's global generator, seeded with ``seed`` (model initialisation draws from it).

The adder layers must also run the same code everywhere: their fused ``torch.compile`` kernel
exists only where a C++ compiler does, and it sums in another order than the eager code, so the
training flows build their adder layers with ``compiled=False`` (golden.reference).

Everything is restored when the block ends, so a caller's own settings survive.

Threads were not the whole story. torch, oneDNN and MKL also choose their kernels by the CPU's
instruction set, and an AVX-512 kernel sums in another order than an AVX2 one (issue 26: 98.44 % on
an AVX-512 machine against 99.33 % on an AVX2 one, for the same seed and code). adderhw pins all
three to AVX2 on import (adderhw.base.kernels); :func:`kernel_fingerprint` says what a process
actually runs, and it is part of every trained model's cache key.
"""
import contextlib

from adderhw.base.validate import check_int

__all__ = ["deterministic", "TRAIN_THREADS", "TRAINING_VERSION", "kernel_fingerprint"]

#: the version of the training code (golden.training and the networks' definitions): raise it
#: whenever a change would give other weights for the same seed, so that no cached model is reused
TRAINING_VERSION = 2

#: threads used for training: one, so that no reduction depends on how many cores a machine has
TRAIN_THREADS = 1


@contextlib.contextmanager
def deterministic(seed, threads=TRAIN_THREADS):
    """A ``with`` block in which torch runs deterministically on ``threads`` threads, with its global
    generator seeded with ``seed`` (a non-negative integer)."""
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    seed = check_int("seed", seed, lo=0)
    threads = check_int("threads", threads, lo=1)
    old_threads = torch.get_num_threads()
    old_det = torch.are_deterministic_algorithms_enabled()
    old_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(old_det, warn_only=old_warn)
        torch.set_num_threads(old_threads)


def kernel_fingerprint():
    """What decides a trained model's bits besides its seed and code: torch's version, the kernel
    family torch runs (``torch.backends.cpu.get_cpu_capability()``; AVX2 where adderhw's pin took
    effect) and :data:`TRAINING_VERSION`, as a dict of strings."""
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    return {"torch": torch.__version__, "capability": torch.backends.cpu.get_cpu_capability(),
            "training": str(TRAINING_VERSION)}
