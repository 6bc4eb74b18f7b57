"""``hw.LayerEngine``'s Verilog on Icarus or Verilator through cocotb (testbench: sim.engine_tb).

``run_engine_verilog(engine, program, images, backend)`` splits the images into batches of C, runs
them all in one simulator process through the HDL harness of ``sim.engine_harness`` (the program
is loaded once) and returns one ``sim.engine.EngineRun`` per batch, with every post-processing
write, the classes and the cycles. (``sim.engine_tb.engine`` drives the same protocol from Python,
a call per cycle; it is kept for debugging and tested, but is far slower.)
The Verilator model is built once per engine configuration and cached (sim.cocotb_sim).
"""
import tempfile
from pathlib import Path

import numpy as np

from amaranth.back import verilog
from amaranth.utils import ceil_log2

from adderhw.base.errors import BadParameter
from adderhw.hw.engine import LayerEngine, class_layout, load_layout, side_bits, write_layout

from .cocotb_sim import SimulationMismatch, build_sources, icarus_compatible, run_testbench
from .engine import EngineRun, image_beats, program_beats
from adderhw.base.simulators import VERILOG_SIMULATORS, check_simulator
from .engine_harness import BATCH_DEPTH, ENGINE_HARNESS_TOP, LOAD_DEPTH, engine_harness_verilog

__all__ = ["run_engine_verilog", "engine_verilog", "ENGINE_TOP", "BACKENDS"]

ENGINE_TOP = "layer_engine"
BACKENDS = VERILOG_SIMULATORS


def engine_verilog(engine):
    """Verilog text of ``LayerEngine(engine)`` with top module ``layer_engine``."""
    return verilog.convert(LayerEngine(engine), name=ENGINE_TOP, emit_src=False)


def _packer(engine):
    layout = load_layout(engine)

    def pack(beat):
        space, addr, lane, value = beat
        return layout.const({"space": space, "addr": addr, "lane": lane, "data": value}).as_bits()
    return pack


def _unpacker(engine):
    wl, cl = write_layout(engine), class_layout(engine)

    def write(word):
        v = wl.from_bits(word)
        return int(v.layer), int(v.addr), [int(x) for x in v.data], int(v.lanes)

    def classes(word):
        return [int(x) for x in cl.from_bits(word)]
    return write, classes


def _run_files(engine, program, batches, tmp, pack):
    """Write the harness's load file and batch sizes; returns its plusargs."""
    prog = [pack(b) for b in program_beats(program, engine)]
    words = [[pack(b) for b in image_beats(program, engine, b)] for b in batches]
    total = len(prog) + sum(map(len, words))
    if total > LOAD_DEPTH or len(batches) > BATCH_DEPTH:
        raise BadParameter(f"one Verilog run holds at most {LOAD_DEPTH} load words and {BATCH_DEPTH} batches, "
                           f"not {total} words in {len(batches)} batches; run fewer images at a time")
    digits = -(-load_layout(engine).size // 4)
    (tmp / "loads.hex").write_text("".join(f"{w:0{digits}x}\n" for ws in [prog, *words] for w in ws))
    (tmp / "batches.hex").write_text("".join(f"{len(w):08x}\n" for w in words))
    return [f"+loads={tmp / 'loads.hex'}", f"+batch_words={tmp / 'batches.hex'}", f"+out={tmp / 'out.txt'}",
            f"+n_program={len(prog)}", f"+n_batches={len(batches)}"]


def run_engine_verilog(engine, program, images, backend="verilator", max_cycles=5_000_000, progress=None):
    """Run ``images`` (N, Cin, H, W) through the engine's Verilog; returns a list of EngineRun.

    The HDL harness (sim.engine_harness) loads the program once and then every batch of C images,
    and records every post-processing write; the simulator runs without Python in the loop."""
    check_simulator(backend, BACKENDS)
    x = np.asarray(images, dtype=np.int64)
    C = engine.lanes
    batches = [x[i:i + C] for i in range(0, len(x), C)]
    pack = _packer(engine)
    text = engine_verilog(engine)
    harness = engine_harness_verilog(load_layout(engine).size, write_layout(engine).size,
                                     class_layout(engine).size, ceil_log2(engine.act_depth), dut=ENGINE_TOP,
                                     side_bits=side_bits(engine))
    if backend == "icarus":
        text, harness = icarus_compatible(text), icarus_compatible(harness)
    files = {f"{ENGINE_TOP}.v": text, f"{ENGINE_HARNESS_TOP}.v": harness}
    runner, build_dir, top = build_sources(files, ENGINE_HARNESS_TOP, backend, progress=progress,
                                           what=f"the engine ({engine.describe()})")
    write, classes = _unpacker(engine)
    with tempfile.TemporaryDirectory(prefix="adderhw-engine-") as tmp:
        tmp = Path(tmp)
        plusargs = _run_files(engine, program, batches, tmp, pack) + [f"+max_cycles={max_cycles}"]
        out = run_testbench(runner, build_dir, top, backend, "adderhw.sim.engine_tb", "harness", tmp, plusargs,
                            tmp / "out.txt", "the engine")
        lines = out.read_text().split("\n")
    runs, run = [], None
    for line in lines:
        if not line:
            continue
        if run is None:
            b = batches[len(runs)]
            run = EngineRun(program, len(b))
        kind, *fields = line.split()
        if kind == "W":
            run.writes.append(write(int(fields[0], 16)))
        else:
            run.classes = np.array(classes(int(fields[0], 16))[:run.images])
            run.cycles = int(fields[1], 16)
            runs.append(run)
            run = None
    if len(runs) != len(batches):
        raise SimulationMismatch(f"the engine's run on {backend} finished {len(runs)} of {len(batches)} batches")
    return runs
