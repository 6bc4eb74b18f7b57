"""Driving ``hw.LayerEngine``: the load sequence of a program and a batch, reading the results back,
and a run on Amaranth's simulator. The Verilog run (cocotb) is in ``sim.engine_cocotb``.

A run of one batch (up to C images, image c on lane c):
  1. load beats (``load_beats``): descriptors, weights, constants, then the images into
     activation buffer 0; the engine takes one per cycle while idle;
  2. a pulse on ``i_start``; the testbench records every post-processing write from ``o_wr``;
  3. at ``o_done``: ``o_class`` and ``o_cycles``.
``EngineRun.layer_outputs`` rebuilds each layer's output (N, C, H, W) from the recorded writes (the
last write to an address wins, as in the buffer), so every layer is compared with the golden
program, not only the class.
"""
from dataclasses import dataclass, field

import numpy as np
from amaranth.sim import Simulator

from adderhw.base.errors import BadParameter, SimulationError
from adderhw.golden.program import memory_images
from adderhw.base.protocol import DESC_SLOTS, SPACE_ACT, SPACE_CONST, SPACE_DESC, SPACE_WEIGHT
from adderhw.hw.engine import LayerEngine

__all__ = ["load_beats", "program_beats", "image_beats", "EngineRun", "run_engine_amaranth", "check_batch"]


def program_beats(program, engine):
    """(space, addr, lane, data) loads of the program: descriptors, weights, constants."""
    mem = memory_images(program, engine)
    beats = []
    for i, d in enumerate(mem.descriptors):
        for f, name in enumerate(engine.descriptor_fields):
            beats.append((SPACE_DESC, i * DESC_SLOTS + f, 0, int(d[name])))
    for addr, row in enumerate(mem.weights):
        for r, v in enumerate(row):
            beats.append((SPACE_WEIGHT, addr, r, int(v)))
    for addr, (scale, bias) in enumerate(mem.consts):
        beats.append((SPACE_CONST, addr, 0, int(scale)))
        beats.append((SPACE_CONST, addr, 1, int(bias)))
        if engine.tile_shift:
            beats.append((SPACE_CONST, addr, 2, int(mem.x_shifts[addr])))
    return beats


def check_batch(program, engine, images):
    x = np.asarray(images, dtype=np.int64)
    if x.ndim != 4 or x.shape[1:] != program.input_shape:
        raise BadParameter(f"images must have shape (N, {', '.join(map(str, program.input_shape))}), not {x.shape}")
    if not 1 <= len(x) <= engine.lanes:
        raise BadParameter(f"a batch holds 1 to {engine.lanes} images (the array's columns), not {len(x)}")
    return x


def image_beats(program, engine, images):
    """Loads of a batch of images into activation buffer 0, image c on lane c."""
    x = check_batch(program, engine, images)
    flat = x.reshape(len(x), -1)
    return [(SPACE_ACT, addr, c, int(flat[c, addr])) for c in range(len(x)) for addr in range(flat.shape[1])]


def load_beats(program, engine, images):
    return program_beats(program, engine) + image_beats(program, engine, images)


@dataclass
class EngineRun:
    """One batch through the engine."""
    program: object
    images: int
    classes: np.ndarray = None
    cycles: int = 0
    writes: list = field(default_factory=list)     # (layer, addr, values of the C lanes, lane mask)
    collisions: int = None      # with poison_collisions: the reads that met a write (hw.collision)

    def layer_outputs(self):
        outs = []
        for i, layer in enumerate(self.program.layers):
            shape = layer.out_shape
            size = int(np.prod(shape))
            buf = np.full((size, self.images), np.iinfo(np.int64).min, dtype=np.int64)
            for lay, addr, values, mask in self.writes:
                if lay == i:
                    if addr >= size:
                        raise SimulationError(f"layer {layer.name!r} wrote address {addr}, beyond its output of {size} values")
                    for c in range(self.images):
                        if mask >> c & 1:
                            buf[addr, c] = values[c]
            outs.append(buf.T.reshape(self.images, *shape))
        return outs


def run_engine_amaranth(engine, program, images, max_cycles=2_000_000, poison_collisions=False):
    """Run one batch on Amaranth's simulator; returns an :class:`EngineRun`. ``poison_collisions``:
    the engine's memory reads that meet a write of their address return poisoned data (hw.collision),
    and the run records how many there were (``collisions``)."""

    x = check_batch(program, engine, images)
    dut = LayerEngine(engine, poison_collisions=poison_collisions)
    beats = load_beats(program, engine, x)
    run = EngineRun(program, len(x))

    async def testbench(ctx):
        for space, addr, lane, value in beats:
            ctx.set(dut.i_load.valid, 1)
            ctx.set(dut.i_load.payload, {"space": space, "addr": addr, "lane": lane, "data": value})
            await ctx.tick()
        ctx.set(dut.i_load.valid, 0)
        ctx.set(dut.i_start, 1)
        await ctx.tick()
        ctx.set(dut.i_start, 0)
        for _ in range(max_cycles):
            _, _, wr, done = await ctx.tick().sample(dut.o_wr, dut.o_done)
            if wr.valid:
                run.writes.append((int(wr.layer), int(wr.addr), [int(v) for v in wr.data], int(wr.lanes)))
            if done:
                break
        else:
            raise SimulationError(f"the engine did not finish within {max_cycles} cycles")
        run.classes = np.array([int(v) for v in ctx.get(dut.o_class)][:len(x)])
        run.cycles = int(ctx.get(dut.o_cycles))
        if poison_collisions:
            run.collisions = int(ctx.get(dut.o_collisions))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return run
