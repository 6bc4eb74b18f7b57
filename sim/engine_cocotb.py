"""``hw.LayerEngine``'s Verilog on Icarus or Verilator through cocotb (testbench: sim.engine_tb).

``run_engine_verilog(engine, program, images, backend)`` splits the images into batches of C, runs
them all in one simulator process (the program is loaded once) and returns one
``sim.engine.EngineRun`` per batch, with every post-processing write, the classes and the cycles.
The Verilator model is built once per engine configuration and cached (sim.cocotb_sim).
"""
import json
import tempfile
from pathlib import Path

from amaranth.back import verilog
from amaranth.lib import data

from adderhw.base.errors import BadParameter
from adderhw.hw.engine import LayerEngine, class_layout, load_layout, write_layout

from .cocotb_sim import SimulationMismatch, TIMESCALE, _failed, _tool_env, build_sources, icarus_compatible
from .engine import EngineRun, image_beats, program_beats
from .toolchain import scoped_environment

__all__ = ["run_engine_verilog", "engine_verilog", "ENGINE_TOP", "BACKENDS"]

ENGINE_TOP = "layer_engine"
BACKENDS = ("verilator", "icarus")


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
        return int(v.layer), int(v.addr), [int(x) for x in v.data]

    def classes(word):
        return [int(x) for x in cl.from_bits(word)]
    return write, classes


def run_engine_verilog(engine, program, images, backend="verilator", max_cycles=5_000_000, progress=None):
    """Run ``images`` (N, Cin, H, W) through the engine's Verilog; returns a list of EngineRun."""
    if backend not in BACKENDS:
        raise BadParameter(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    import numpy as np
    x = np.asarray(images, dtype=np.int64)
    C = engine.lanes
    batches = [x[i:i + C] for i in range(0, len(x), C)]
    pack = _packer(engine)
    text = engine_verilog(engine)
    files = {f"{ENGINE_TOP}.v": icarus_compatible(text) if backend == "icarus" else text}
    runner, build_dir, top = build_sources(files, ENGINE_TOP, backend, progress=progress,
                                           what=f"the engine ({engine.describe()})")
    write, classes = _unpacker(engine)
    with tempfile.TemporaryDirectory(prefix="adderhw-engine-") as tmp:
        tmp = Path(tmp)
        job = {"program": [pack(b) for b in program_beats(program, engine)],
               "batches": [[pack(b) for b in image_beats(program, engine, b)] for b in batches],
               "max_cycles": max_cycles}
        job_path = tmp / "job.json"
        job_path.write_text(json.dumps(job))
        try:
            with scoped_environment(_tool_env(backend)):
                results = runner.test(test_module="adderhw.sim.engine_tb", hdl_toplevel=top, build_dir=build_dir,
                                      testcase="engine", test_dir=tmp, plusargs=[f"+adderhw_job={job_path}"],
                                      timescale=TIMESCALE, log_file=tmp / "sim.log")
            failed = _failed(results)
        except SystemExit:
            failed = True
        res_path = Path(str(job_path) + ".result.json")
        if failed or not res_path.exists():
            log = (tmp / "sim.log").read_text() if (tmp / "sim.log").exists() else ""
            raise SimulationMismatch(f"the engine's cocotb test on {backend} failed:\n{log[-3000:]}")
        res = json.loads(res_path.read_text())
    runs = []
    for b, r in zip(batches, res["batches"]):
        run = EngineRun(program, len(b))
        run.writes = [write(w) for w in r["writes"]]
        run.classes = np.array(classes(r["class"])[:len(b)])
        run.cycles = r["cycles"]
        runs.append(run)
    return runs
