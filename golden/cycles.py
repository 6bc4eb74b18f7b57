"""The exact cycle model of the array, from the same ``ArrayConfig`` as the RTL.

Stall-free timing of ``hw.SystolicArray`` (derivation in hw/array.py's docstring):
with S = ``config.pe_stages`` and G = R + C + S - 1,

  * tile j (K_j beats) has its last beat accepted at L_j = L_{j-1} + max(K_j, G), L_0 = K_0 - 1;
  * a run of tiles takes L_last + G cycles, counted from the first cycle input is offered to
    the cycle that accepts the last output row, inclusive.

So a GEMM of n tiles with equal K takes (K - 1) + (n - 1)·max(K, G) + G cycles.
Tests hold every RTL backend to these numbers exactly.
"""
from .config import ArrayConfig
from .errors import AdderhwError
from .validate import check_int

__all__ = ["drain_gap", "tiles", "tile_sequence_cycles", "gemm_cycles"]


def _check_config(config):
    if not isinstance(config, ArrayConfig):
        raise AdderhwError(f"config must be an ArrayConfig, not {type(config).__name__}")


def drain_gap(config):
    """G = R + C + S - 1: the fewest cycles between two tiles' last beats; K >= G hides the drain."""
    _check_config(config)
    return config.rows + config.cols + config.pe_stages - 1


def tiles(config, T, P):
    """Number of R x C output tiles of a (T x P) result."""
    _check_config(config)
    T, P = check_int("T", T, lo=1), check_int("P", P, lo=1)
    return -(-T // config.rows) * -(-P // config.cols)


def tile_sequence_cycles(config, ks):
    """Cycles of tiles with reduction lengths ``ks`` streamed back to back, no stalls."""
    _check_config(config)
    if not ks:
        return 0
    g = drain_gap(config)
    last = None
    for k in ks:
        k = config.check_k(k)
        last = k - 1 if last is None else last + max(k, g)
    return last + g


def gemm_cycles(config, T, K, P):
    """Cycles of a (T x K)·(K x P) GEMM on the array (K <= k_max), no stalls."""
    n = tiles(config, T, P)
    K = config.check_k(K)
    g = drain_gap(config)
    return (K - 1) + (n - 1) * max(K, g) + g
