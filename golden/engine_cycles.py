"""The exact cycle model of the layer engine (hw.engine), from the same EngineConfig and program.

One run (a batch of up to C images) counts from the cycle after ``i_start`` to the cycle that
raises ``o_done``. Per layer, in order:

  * FETCH_CYCLES to read the descriptor (hw.sequencer), then one cycle that starts the layer;
  * IM2COL_STAGES cycles for the address generator's first beat (hw.im2col: counters, the
    memories' read, the registered payload);
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
"""
from adderhw.base.engine import FETCH_CYCLES, IM2COL_STAGES, POSTPROC_STAGES, EngineConfig
from adderhw.base.errors import BadParameter

from .cycles import tile_sequence_cycles

__all__ = ["engine_layer_cycles", "engine_cycles", "LAYER_OVERHEAD"]

#: cycles of every layer beyond its tiles' run
LAYER_OVERHEAD = FETCH_CYCLES + IM2COL_STAGES + POSTPROC_STAGES + 2


def engine_layer_cycles(engine, layer):
    """(cycles, tiles, array config) of one LayerProgram on ``engine``."""
    if not isinstance(engine, EngineConfig):
        raise BadParameter(f"engine must be an EngineConfig, not {type(engine).__name__}")
    arr = engine.array_for(layer.op)
    h, w = layer.conv_hw
    n = h * w * -(-layer.cout // arr.rows)
    return LAYER_OVERHEAD + tile_sequence_cycles(arr, [layer.k] * n, engine.drain_wait(layer.op)), n, arr


def engine_cycles(engine, program):
    """Cycles of one batch: {"total": int, "layers": [{name, op, cycles, tiles, terms, pes, utilisation}]}.

    ``terms`` are the useful |x - f| terms (or multiply-accumulates) of a full batch of C images;
    ``utilisation`` = terms / (PEs of the layer's array x the layer's cycles)."""
    layers, total = [], 0
    for layer in program.layers:
        cycles, n, arr = engine_layer_cycles(engine, layer)
        terms = layer.terms() * engine.lanes
        layers.append({"name": layer.name, "op": layer.op, "cycles": cycles, "tiles": n, "k": layer.k,
                       "terms": terms, "pes": arr.pes, "utilisation": terms / (arr.pes * cycles)})
        total += cycles
    return {"total": total, "layers": layers}
