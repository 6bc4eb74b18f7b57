"""ResNet-20 on the layer engine: golden.resnet.AdderResNet (CIFAR, 3x32x32, 16/32/64 channels,
adder layers, the first convolution and the classifier multiplier layers) with random weights and
randomised BatchNorm (seed 0), imported by golden.frontend and compiled by golden.compiler at
``width`` bits on random calibration images; the engine golden.network_program.engine_for builds for
it (EngineConfig.residual: three activation buffers), with the weight and constant tables cut to
exactly what the program needs; where each tensor lives; whether the memories fit the ULX3S-85F's
block RAM; and a run of synthetic images through the engine's Verilog on Verilator, compared with the
golden program step by step and with the engine cycle model; with ``--build-dir``, a ULX3S-85F
build of that engine behind its UART link (boards.engine_build, ``--clock-mhz auto``: at the
oscillator to measure Fmax, then through the PLL at Fmax less 10 %), whose block RAM, logic, Fmax
and images/s at Fmax and at the PLL's clock the result records.

Block RAM is counted as ECP5 DP16KD blocks (18 Kbit), each memory in the cheapest of the block's
port shapes (16384x1, 8192x2, 4096x4, 2048x9, 1024x18, 512x36): an estimate from the memories'
shapes, not a synthesis (Yosys may also put a small table in LUT RAM).

    python -m adderhw.resnet_engine --rows 8 --cols 2 --images 2 --build-dir build/resnet20 \
        --out docs/results/resnet20_engine
"""
import argparse
import sys
import time

import numpy as np

from adderhw.base.engine import GAP_EXTRA_BITS
from adderhw.base.protocol import DESC_SLOTS
from adderhw.base.tables import write_reports
from adderhw.golden.compiler import compile_model, quantize_images
from adderhw.golden.engine_cycles import engine_cycles
from adderhw.golden.frontend import import_model
from adderhw.golden.network_program import engine_for
from adderhw.golden.program import memory_images, run_program
from adderhw.golden.program_file import state_dict_sha256, write_program
from adderhw.golden.resnet import AdderResNet, randomise_batchnorm
from adderhw.sim.engine_cocotb import run_engine_verilog

__all__ = ["resnet20_engine", "resnet20_program", "memory_blocks", "DP16KD_SHAPES", "ULX3S_85F_DP16KD"]

#: the port shapes (depth, bits) of an ECP5 DP16KD block (18 Kbit)
DP16KD_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
#: DP16KD blocks of the ULX3S-85F's LFE5U-85F
ULX3S_85F_DP16KD = 208


def _blocks(depth, bits):
    return min(-(-depth // d) * -(-bits // w) for d, w in DP16KD_SHAPES)


def memory_blocks(engine):
    """{memory: {depth, bits, kbit, dp16kd}} of hw.LayerEngine(engine)'s memories."""
    a = engine.array
    qb = (engine.post_chunks - 1).bit_length()
    mems = {f"act{s}": (engine.act_depth, a.cols * a.width) for s in range(engine.act_buffers)}
    mems.update({"weights": (engine.weight_depth, a.rows * a.width), "scales": (engine.const_depth, engine.scale_bits),
                 "biases": (engine.const_depth, engine.bias_bits),
                 "descriptors": (engine.max_layers * DESC_SLOTS, engine.field_bits),
                 "gap_sums": (engine.const_depth << qb, engine.pp_lanes * (a.width + GAP_EXTRA_BITS))})
    if engine.tile_shift:
        mems["x_shifts"] = (engine.const_depth, 4)
    return {k: {"depth": d, "bits": w, "kbit": round(d * w / 1024, 1), "dp16kd": _blocks(d, w)}
            for k, (d, w) in mems.items()}


def resnet20_program(width=8, calib=16):
    """(model, program, rng): the ResNet-20 of the module docstring compiled at ``width`` bits on
    ``calib`` random calibration images; ``rng`` the generator the images were drawn from."""
    import torch            # the model's framework (golden.frontend imports it too)

    torch.manual_seed(0)
    model = randomise_batchnorm(AdderResNet(20))
    rng = np.random.default_rng(0)
    program = compile_model(import_model(model, (3, 32, 32)), rng.random((calib, 3, 32, 32)).astype(np.float32),
                            width, "resnet20-adder").program
    return model, program, rng


def resnet20_engine(rows=8, cols=2, width=8, images=2, calib=16, post_lanes=1, verilator=True, progress=print,
                    program_out=None, build_dir=None, seed=1):
    """The measurements (module docstring) as a result dict; ``program_out``: also write the program
    file there (golden.program_file), for ``adderhw build --top engine --program``; ``build_dir``:
    build the engine for the ULX3S-85F there (nextpnr ``seed``)."""
    t0 = time.time()
    model, program, rng = resnet20_program(width, calib)
    progress(f"  compiled in {time.time() - t0:.0f} s: {len(program.layers)} steps")
    if program_out:
        write_program(program_out, program, source_sha256=state_dict_sha256(model),
                      source_model="golden.resnet.AdderResNet(20), torch seed 0")
    loose = engine_for(program, rows, cols, "sad", 1, post_lanes=post_lanes)
    # the program-file flows' engine: the tables exactly as deep as the program needs
    engine = engine_for(program, rows, cols, "sad", 1, post_lanes=post_lanes, exact_depths=True)
    mem = memory_images(program, engine)
    mems = memory_blocks(engine)
    total = sum(v["dp16kd"] for v in mems.values())
    cyc = engine_cycles(engine, program)
    names = ["input"] + [s.name for s in program.layers]
    tensors = []
    for i, (step, (rd, wr, sk)) in enumerate(zip(program.layers, mem.buffers)):
        srcs = program.sources(i)
        tensors.append({"step": step.name, "op": step.op, "reads": names[srcs[0] + 1], "read_buffer": rd,
                        **({"skip": names[srcs[1] + 1], "skip_buffer": sk} if step.op == "residual" else {}),
                        "writes_buffer": wr, "out_shape": list(step.out_shape), "cycles": cyc["layers"][i]["cycles"],
                        "utilisation": cyc["layers"][i]["utilisation"], "k": cyc["layers"][i]["k"]})
    r = {"network": "resnet20", "model": "golden.resnet.AdderResNet(20), random weights (torch seed 0), "
         "BatchNorm randomised (seed 0)", "calibration_images": calib, "width": width,
         "engine": engine.describe(), "rows": rows, "cols": cols, "mac_rows": engine.mac_rows,
         "post_lanes": engine.pp_lanes, "act_depth": engine.act_depth, "weight_depth": engine.weight_depth,
         "const_depth": engine.const_depth, "max_layers": engine.max_layers, "steps": len(program.layers),
         "residual_adds": sum(s.op == "residual" for s in program.layers), "kept_tensors": len(program.kept),
         "memories": mems, "dp16kd": total, "ulx3s_85f_dp16kd": ULX3S_85F_DP16KD,
         "fits_ulx3s_85f_block_ram": total <= ULX3S_85F_DP16KD,
         "dp16kd_power_of_two_depths": sum(v["dp16kd"] for v in memory_blocks(loose).values()),
         "cycles_per_batch_model": cyc["total"], "cycles_per_image_model": cyc["total"] / engine.lanes,
         # the 3x3 adder layers' utilisation (issue 30's goal: at least 90 %), terms over PE-cycles
         "utilisation_3x3_adder_min": min(t["utilisation"] for t in tensors if t["op"] == "add" and t["k"] % 9 == 0
                                          and t["k"] > 9),
         # images/s follow from the cycles at any clock: at the ULX3S-85F's 25 MHz oscillator (the
         # board build, when made, gives them at Fmax and at the PLL's clock)
         "images_per_s_at_25_mhz": 25e6 / (cyc["total"] / engine.lanes),
         "tensors": tensors}
    if build_dir is not None:
        r["board_build"] = _board_build(engine, cyc["total"] / engine.lanes, build_dir, seed, progress)
    if verilator:
        x = quantize_images(program, rng.random((images, 3, 32, 32)).astype(np.float32))
        t1 = time.time()
        runs = run_engine_verilog(engine, program, x, backend="verilator", max_cycles=10 * cyc["total"],
                                  progress=progress)
        seconds = time.time() - t1
        C, exact, classes, golden_classes = engine.lanes, True, [], []
        for i, run in enumerate(runs):
            g = run_program(program, x[i * C:i * C + run.images])
            exact &= all(np.array_equal(got, want) for got, want in zip(run.layer_outputs(), g.outputs))
            exact &= bool(np.array_equal(run.classes, g.classes))
            classes += [int(c) for c in run.classes]
            golden_classes += [int(c) for c in g.classes]
        r.update({"images": int(images), "batches": len(runs), "verilator_bit_exact_every_step": bool(exact),
                  "verilator_cycles_per_batch": [int(run.cycles) for run in runs],
                  "verilator_cycles_equal_model": all(run.cycles == cyc["total"] for run in runs),
                  "classes": classes, "golden_classes": golden_classes, "verilator_seconds": round(seconds, 1)})
    return r


def _board_build(engine, cycles_per_image, build_dir, seed, progress):
    """The ULX3S-85F build of ``engine`` at the automatic clock, as the result's ``board_build``."""
    from adderhw.boards.engine_build import build_engine_board_auto_clock   # start-up: deferred (cli docstring)
    b = build_engine_board_auto_clock("ulx3s-85f", engine, cycles_per_image, out_dir=build_dir, seed=seed,
                                      progress=progress, extra={"network": "resnet20"})
    auto = b["auto_clock"]
    return {"board": b["board"], "device": b["device"], "seed": seed, "bram": b["bram"], "logic": b["logic"],
            "luts": b["luts"], "ffs": b["ffs"], "dsp": b["dsp"], "fits": b["bitstream"] is not None,
            "fmax_mhz_at_oscillator": auto["first_build"]["fmax_mhz"], "fmax_mhz": b["fmax_mhz"],
            "clock_mhz": b["clock_mhz"], "pll": b["pll"], "timing_met": b["timing_met"],
            "images_per_s_at_fmax": b["images_per_s_at_fmax"], "images_per_s_at_clock": b["images_per_s_at_clock"],
            "critical_path": b["critical_path"], "build_seconds": b["build_seconds"], "tools": b["tools"]}


def format_resnet20_engine(r):
    lines = [f"# ResNet-20 on the layer engine ({r['engine']})", "",
             f"{r['model']}, compiled at {r['width']} bits; {r['steps']} steps, of which {r['residual_adds']} "
             f"residual adds; {r['kept_tensors']} kept tensors.", ""]
    if "images" in r:
        lines += [f"Verilator: {r['images']} synthetic images in {r['batches']} batch(es), every step bit-exact with the "
                  f"golden program: **{r['verilator_bit_exact_every_step']}**; cycles per batch "
                  f"{r['verilator_cycles_per_batch']}, the cycle model's {r['cycles_per_batch_model']}: equal "
                  f"**{r['verilator_cycles_equal_model']}**; classes {r['classes']} (golden {r['golden_classes']}); "
                  f"{r['verilator_seconds']} s of simulation.", ""]
    lines += [f"Cycles per image (model): {r['cycles_per_image_model']:,.1f}; at the ULX3S-85F's 25 MHz oscillator "
              f"{r['images_per_s_at_25_mhz']:.2f} images/s" + ("" if "board_build" in r else
                                                                " (no board build was made: Fmax unknown)")
              + ". The 3x3 adder "
              f"layers' utilisation is at least {100 * r['utilisation_3x3_adder_min']:.2f} %.", ""]
    if "board_build" in r:
        b = r["board_build"]
        cp = b["critical_path"] or {}
        lines += [f"**ULX3S-85F build** ({b['device']}, nextpnr seed {b['seed']}): fits **{b['fits']}**; block RAM "
                  f"{b['bram']['used']}/{b['bram']['available']} DP16KD, {b['luts']:,} LUT4 "
                  f"({b['logic']['used']:,}/{b['logic']['available']:,} {b['logic']['cell']}), {b['ffs']:,} flip-flops, "
                  f"DSP {b['dsp']['used']}/{b['dsp']['available']}. Fmax {b['fmax_mhz_at_oscillator']:.1f} MHz at the "
                  f"25 MHz oscillator; through the PLL at {b['clock_mhz']:g} MHz, Fmax {b['fmax_mhz']:.1f} MHz "
                  f"(timing {'met' if b['timing_met'] else 'NOT met'}): **{b['images_per_s_at_clock']:.2f} images/s at "
                  f"the PLL's clock, {b['images_per_s_at_fmax']:.2f} at Fmax**. Critical path "
                  f"{cp.get('from_cell')} -> {cp.get('to_cell')} ({cp.get('delay_ns', 0):.2f} ns).", ""]
    lines += [f"Block RAM (ECP5 DP16KD, 18 Kbit, estimated from the memories' shapes): **{r['dp16kd']}** of the "
              f"ULX3S-85F's {r['ulx3s_85f_dp16kd']}: fits **{r['fits_ulx3s_85f_block_ram']}** (with every depth "
              f"rounded up to a power of two, as engine_for builds the built-in networks' engines: {r['dp16kd_power_of_two_depths']}).", "",
              "| memory | depth | bits | Kbit | DP16KD |", "|---|---:|---:|---:|---:|"]
    for k, v in r["memories"].items():
        lines.append(f"| {k} | {v['depth']} | {v['bits']} | {v['kbit']} | {v['dp16kd']} |")
    lines += ["", "Where each tensor lives (golden.program.allocate_buffers; the image is in buffer 0):", "",
              "| step | op | reads (buffer) | skip (buffer) | writes buffer | output | cycles | utilisation |",
              "|---|---|---|---|---:|---|---:|---:|"]
    for t in r["tensors"]:
        skip = f"{t['skip']} ({t['skip_buffer']})" if "skip" in t else ""
        lines.append(f"| {t['step']} | {t['op']} | {t['reads']} ({t['read_buffer']}) | {skip} | {t['writes_buffer']} "
                     f"| {'x'.join(map(str, t['out_shape']))} | {t['cycles']} | "
                     + (f"{100 * t['utilisation']:.2f} % |" if t["op"] != "residual" else "– |"))
    return "\n".join(lines) + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m adderhw.resnet_engine", description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=8)
    p.add_argument("--cols", type=int, default=2)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--images", type=int, default=2)
    p.add_argument("--post-lanes", type=int, default=1)
    p.add_argument("--no-verilator", action="store_true")
    p.add_argument("--program-out", default=None, help="also write the program file here")
    p.add_argument("--build-dir", default=None, help="also build the engine for the ULX3S-85F in this directory")
    p.add_argument("--seed", type=int, default=1, help="nextpnr's seed for --build-dir (default 1)")
    p.add_argument("--out", default="docs/results/resnet20_engine")
    args = p.parse_args(argv)
    r = resnet20_engine(args.rows, args.cols, args.width, args.images, post_lanes=args.post_lanes,
                        verilator=not args.no_verilator, program_out=args.program_out, build_dir=args.build_dir,
                        seed=args.seed)
    r["command"] = "python -m adderhw.resnet_engine " + " ".join(sys.argv[1:] if argv is None else argv)
    paths = write_reports(args.out, "resnet20_engine", r, format_resnet20_engine(r))
    print(format_resnet20_engine(r))
    print("wrote", *paths)


if __name__ == "__main__":
    main()
