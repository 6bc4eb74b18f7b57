"""The exact cycle model of the array, from the same ``ArrayConfig`` as the RTL.

Stall-free timing of ``hw.SystolicArray`` (derivation in hw/array.py's docstring):
with S = ``config.pe_stages`` and G = ``config.drain_gap`` (2R + C + S - 1 for the systolic
dataflow: the capture wave, then R cycles of the column drain chains, then the output FIFO;
R + S + 2 for the broadcast one, whose PEs all capture in the same cycle),

  * tile j (K_j beats) has its last beat accepted at L_j = L_{j-1} + max(K_j, G), L_0 = K_0 - 1;
  * a run of tiles takes L_last + G cycles, counted from the first cycle input is offered to
    the cycle that accepts the last output row, inclusive.

So a GEMM of n tiles with equal K takes (K - 1) + (n - 1)·max(K, G) + G cycles.

Layers (``layer_cycles``): a layer's im2col GEMM has T = Cout, K = Cin·kh·kw, P = N·Hout·Wout.
When K exceeds k_max it is split into ``k_chunks(K, k_max)`` (as equal as possible), and the tiles
of every chunk stream back to back in one run: chunk 0's tiles, then chunk 1's, and so on
(``sim.run_layer`` does exactly this). Tests hold every RTL backend to these numbers exactly.
"""
from adderhw.base.config import check_config
from adderhw.base.validate import check_int

__all__ = ["drain_gap", "tiles", "tile_sequence_cycles", "gemm_cycles", "k_chunks", "split_gemm_cycles",
           "layer_cycles", "utilisation"]


def drain_gap(config):
    """G (``ArrayConfig.drain_gap``: 2R + C + S - 1 systolic, R + S + 2 broadcast): the fewest cycles
    between two tiles' last beats; K >= G hides the drain."""
    return check_config(config).drain_gap


def tiles(config, T, P):
    """Number of R x C output tiles of a (T x P) result."""
    check_config(config)
    T, P = check_int("T", T, lo=1), check_int("P", P, lo=1)
    return -(-T // config.rows) * -(-P // config.cols)


def tile_sequence_cycles(config, ks, drain_wait=0):
    """Cycles of tiles with reduction lengths ``ks`` streamed back to back, no input stalls.

    ``drain_wait``: cycles by which the consumer of ``o_sum`` delays the acceptance of each tile's
    last output row (hw.postproc with L < C takes a row every P cycles, so R·(P − 1)). The array
    holds the next tile's last beat until that row is accepted (hw.array), so G grows by the same
    amount, in the gap between tiles and at the end of the run."""
    check_config(config)
    if not ks:
        return 0
    g = drain_gap(config) + check_int("drain_wait", drain_wait, lo=0)
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


def k_chunks(K, k_max):
    """Reduction lengths of the chunks a K > k_max reduction is split into: ceil(K / k_max) chunks,
    as equal as possible, larger first."""
    K, k_max = check_int("K", K, lo=1), check_int("k_max", k_max, lo=1)
    n = -(-K // k_max)
    base, extra = divmod(K, n)
    return [base + 1] * extra + [base] * (n - extra)


def split_gemm_cycles(config, T, K, P):
    """Cycles of a GEMM of any K, split into ``k_chunks`` whose tiles stream back to back."""
    n = tiles(config, T, P)
    return tile_sequence_cycles(config, [k for k in k_chunks(K, config.k_max) for _ in range(n)])


def layer_cycles(config, layer, batch=1):
    """Cycles of one layer (a :class:`golden.networks.Layer`) on the array, no stalls."""
    T, K, P = layer.gemm(batch)
    return split_gemm_cycles(config, T, K, P)


def utilisation(config, terms, cycles):
    """Useful terms over PE-cycles: how busy the array is."""
    return terms / (config.pes * cycles) if cycles else 0.0
