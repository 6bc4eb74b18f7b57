"""The exact cycle model of the layer engine (hw.engine), from the same EngineConfig and program.

One run (a batch of up to C images) counts from the cycle after ``i_start`` to the cycle that
raises ``o_done``. Per layer, in order:

  * FETCH_CYCLES to read the descriptor (hw.sequencer), then one cycle that starts the layer;
  * IM2COL_STAGES cycles for the address generator's first beat (hw.im2col: counters, the
    memories' read, the read words registered, the registered payload);
  * the array's run of the layer's tiles (golden.cycles.tile_sequence_cycles: from the first beat
    offered to the acceptance of the last output row): out_h·out_w·t_tiles tiles of K beats
    back to back, on the array the layer's op selects. With L = C post-processing lanes the
    post-processing accepts a row every cycle, so the array never stalls beyond its own drain rule.
    With L < C (P = C / L chunks per row) it accepts a row with the row's last chunk, every P
    cycles: a tile's R rows are accepted R·(P − 1) cycles later than the array offers them, and
    the array holds the next tile's last beat until then, so the drain gap G of the tile sequence
    grows by ``EngineConfig.drain_wait`` = R·(P − 1) (golden.cycles.tile_sequence_cycles);
  * POSTPROC_STAGES + 1 cycles: the last row's last chunk's pipeline to its write, and the cycle in
    which the sequencer sees the layer done.

So a layer costs FETCH_CYCLES + IM2COL_STAGES + tiles' cycles + POSTPROC_STAGES + 2. Cycles per image are a full
batch's cycles / C (the images on the C lanes share every cycle).

On an engine built with ``residual`` the descriptor has RESIDUAL_FIELDS too, so every step's fetch
is ``EngineConfig.fetch_cycles`` (FETCH_CYCLES + 3) instead (:func:`layer_overhead`). A residual add
(golden.program.ResidualAdd of C_ch x H x W) runs without the arrays: the address generator offers
one element (of C images) per cycle and the post-processing takes it in P cycles, so its run is
N·P cycles, N = C_ch·H·W, and the step costs layer_overhead + N·P.
"""
from adderhw.base.engine import FETCH_CYCLES, IM2COL_STAGES, POSTPROC_STAGES, EngineConfig
from .program import ResidualAdd
from adderhw.base.errors import BadParameter

from .cycles import tile_sequence_cycles

__all__ = ["engine_layer_cycles", "engine_cycles", "layer_overhead", "LAYER_OVERHEAD"]

#: cycles of every layer beyond its tiles' run (on an engine without ``residual``)
LAYER_OVERHEAD = FETCH_CYCLES + IM2COL_STAGES + POSTPROC_STAGES + 2


def layer_overhead(engine):
    """Cycles of every step on ``engine`` beyond its run: LAYER_OVERHEAD with the engine's fetch."""
    return LAYER_OVERHEAD - FETCH_CYCLES + engine.fetch_cycles


def engine_layer_cycles(engine, layer):
    """(cycles, tiles, array config) of one LayerProgram on ``engine``; of a ResidualAdd (cycles, 0,
    None)."""
    if not isinstance(engine, EngineConfig):
        raise BadParameter(f"engine must be an EngineConfig, not {type(engine).__name__}")
    if isinstance(layer, ResidualAdd):
        c, h, w = layer.shape
        return layer_overhead(engine) + c * h * w * engine.post_chunks, 0, None
    arr = engine.array_for(layer.op)
    h, w = layer.conv_hw
    n = h * w * -(-layer.cout // arr.rows)
    return layer_overhead(engine) + tile_sequence_cycles(arr, [layer.k] * n, engine.drain_wait(layer.op)), n, arr


def engine_cycles(engine, program):
    """Cycles of one batch: {"total": int, "layers": [{name, op, cycles, tiles, terms, pes, utilisation}]}.

    ``terms`` are the useful |x - f| terms (or multiply-accumulates) of a full batch of C images;
    ``utilisation`` = terms / (PEs of the layer's array x the layer's cycles)."""
    layers, total = [], 0
    for layer in program.layers:
        cycles, n, arr = engine_layer_cycles(engine, layer)
        if arr is None:             # a residual add: no array, no |x − f| terms
            layers.append({"name": layer.name, "op": layer.op, "cycles": cycles, "tiles": 0, "k": 0, "terms": 0,
                           "pes": 0, "utilisation": 0.0})
            total += cycles
            continue
        terms = layer.terms() * engine.lanes
        layers.append({"name": layer.name, "op": layer.op, "cycles": cycles, "tiles": n, "k": layer.k,
                       "terms": terms, "pes": arr.pes, "utilisation": terms / (arr.pes * cycles)})
        total += cycles
    return {"total": total, "layers": layers}
