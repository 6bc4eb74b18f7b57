"""``adderhw`` command line: parses, dispatches, and turns bad input into one sentence and exit 2.

Each subcommand's work lives in the package it belongs to; this module only wires arguments.

Why each command imports its flow inside its function (a measured start-up cost): ``adderhw --help``
takes 0.7 s, against 3.9 s with every command's flow (and torch) imported first (wall clock, best of
5, the 2-core test machine under load, 2026-12-07). So ``adderhw --help`` and a refused option answer
at once, and a command pays only for what it runs. What the parser itself reads (base's tables, and
the hw and boards modules whose names its options list) is imported at the top.

The flows defer the same way inside, where a path needs a slow import that others do not: over the
module that imports them (``python -X importtime``, best of 3), adderhw.sim.engine adds 0.30 s and
adderhw.sim.engine_cocotb 0.27 s to adderhw.engine (which build, train and the benches import for its
checks alone); adderhw.sim.link 0.23 s (``--port sim``) and adderhw.boards.engine_build 0.26 s
(``--board``) to adderhw.run; adderhw.digits 0.27 s (``--rtl-widths``) to adderhw.quantise;
adderhw.boards.engine_build 0.09 s (``--build-dir``) to adderhw.resnet_engine. torch's cost is in
golden/__init__.py. import-linter sees these imports all the same (tests/app/test_layers.py).
"""
import argparse
import json
import os
import sys
from pathlib import Path

from adderhw import __version__
from adderhw.base.config import DATAFLOWS, ArrayConfig, dataflow_flag
from adderhw.base.engine import DEFAULT_POST_LANES, check_post_lanes
from adderhw.base.networks import NETWORK_EPOCHS, NETWORKS, QAT_EPOCHS, STUDY_EPOCHS
from adderhw.base.requant import REQUANT_KINDS
from adderhw.base.tables import markdown_table, write_reports
from adderhw.base.validate import check_int
from adderhw.base.pe_kind import PE_KINDS, pe_kind
from adderhw.base.errors import AdderhwError, BadParameter, Stopped
from adderhw.base.executor import scheduler_from_env
from adderhw.base.paths import check_output_dir, check_output_file
from adderhw.base.provenance import stamp, typed_command
from adderhw.base.simulators import VERILOG_SIMULATORS
from adderhw.base.platform import BUILD_TARGET_MHZ, SWEEP_TARGET_MHZ, family_mhz
from adderhw.boards import engine_build         # by module: the tests patch its build functions
from adderhw.boards.build import build_board, summarise
from adderhw.boards.build_process import stopping_builds
from adderhw.boards.engine_build import (ENGINE_BOARDS, NEXTPNR_DEFAULTS, NEXTPNR_PLACERS, NEXTPNR_ROUTERS,
                                         check_nextpnr_options)
from adderhw.boards.engine_top import oscillator_hz
from adderhw.boards.platforms import BOARDS, board as board_by_name
from adderhw.boards.pll import PLL_MARGIN_PCT, check_pll_margin, solve_pll
from adderhw.golden.addernet import FIRST_LAST
from adderhw.hw.mutation import MUTATIONS
from adderhw.hw.verilog import TARGETS, generate_verilog
from adderhw.record import check_record_config, config_record

__all__ = ["main"]


def _say(msg):
    print(msg, file=sys.stderr, flush=True)


def _check_out_dirs(args):
    """Refuse, before any work, an --out or --build-dir that cannot be a directory."""
    for name in ("out", "build_dir"):
        if getattr(args, name, None):
            check_output_dir("--" + name.replace("_", "-"), getattr(args, name))


def _write_reports(out_dir, stem, data, markdown):
    if out_dir is None:
        return
    paths = write_reports(out_dir, stem, data, markdown)
    _say(f"wrote {paths[0]} and {paths[1]}")


def _finish_study(out_dir, stem, result, format_fn, plot_fn=None, partial=None):
    """How every study ends: its table printed, ``stem``.json and .md (with their provenance,
    base.provenance) and ``stem``.png written into ``out_dir`` (when given), and the partial file
    that an interrupted run would have resumed from removed."""
    table = format_fn(result)
    print(table)
    if out_dir is not None:
        _write_reports(out_dir, stem, result, table)
        if plot_fn is not None:
            plot_fn(result, Path(out_dir) / f"{stem}.png")
    if partial is not None and Path(partial).exists():
        Path(partial).unlink()
    return table


# ---------------------------------------------------------------- demo
#: the options only ``demo digits`` takes (their defaults are DigitsConfig's); the quick demo
#: refuses them rather than ignoring them
DIGITS_OPTIONS = ("epochs", "hw_width", "rows", "cols", "small_batch", "verilog_backend", "verilog_batch")


TRAIN_HELP = ("train the networks afresh here (cached afterwards) instead of using the committed weights "
              "that the published results came from (docs/results/weights)")


POST_LANES_HELP = ("the engine's post-processing lanes L, a divisor of --cols, or 0 for one lane per column: each "
                   "drained row of C sums is taken in C/L chunks, one per cycle (fewer cells; the drain waits for "
                   "it); default 1, the most images/s per logic cell on both boards (adderhw bench lanes)")


def _train_option(parser, prefix=""):
    parser.add_argument("--train", action="store_true", help=prefix + TRAIN_HELP)


def _epochs_words():
    return " and ".join(f"{n} for {name}" for name, n in NETWORK_EPOCHS.items())


def _study_epochs_options(parser):
    """--digits-epochs, --mnist-epochs and --qat-epochs of the studies (golden.trained.STUDY_EPOCHS)."""
    for name, n in STUDY_EPOCHS.items():
        parser.add_argument(f"--{name}-epochs", type=int, default=n,
                            help=f"float training epochs, {'MNIST' if name == 'mnist' else name} (default {n})")
    parser.add_argument("--qat-epochs", type=int, default=QAT_EPOCHS, help=f"QAT fine-tuning epochs (default {QAT_EPOCHS})")


def _pe_option(parser):
    """--pe, with its choices from the PE kinds' table (base.pe_kind)."""
    names = ", ".join(f"{k.name} ({k.network})" for k in map(pe_kind, PE_KINDS))
    parser.add_argument("--pe", default=PE_KINDS[0], help=f"processing element: {names} (default {PE_KINDS[0]})")


def _multiplier_options(parser):
    parser.add_argument("--first-last", default="mul", choices=FIRST_LAST,
                        help="AdderNet: the first conv and the classifier as multiplier layers (mul, the paper's; "
                             "default) or adder layers (adder: an all-adder network, whose engine has no MAC array)")
    parser.add_argument("--requant", default="mul", choices=REQUANT_KINDS,
                        help="AdderNet: the post-processing multiplies by the folded BatchNorm scale M (mul; default) "
                             "or M is fitted to signed powers of two and applied with shifts and adds (shift)")
    parser.add_argument("--shift-terms", type=int, default=2, choices=(1, 2),
                        help="with --requant shift: powers of two per M (default 2)")
    parser.add_argument("--post-lanes", type=int, default=DEFAULT_POST_LANES, help=POST_LANES_HELP)


def _program_options(parser, data=True, prefix=""):
    """--program FILE (a program file of adderhw compile, instead of --network) and its --data."""
    parser.add_argument("--program", default=None,
                        help=prefix + "a program file written by adderhw compile, instead of a built-in --network "
                                      "(its width and PE kind come from the program)")
    if data:
        parser.add_argument("--data", default=None,
                            help="with --program: the images, a .npz with x (N, C, H, W floats, as the model was "
                                 "calibrated) and y (labels, for the accuracy), or a .npy of images")


def cmd_demo(args):
    if args.what == "digits":
        return cmd_demo_digits(args)
    for name in DIGITS_OPTIONS:
        if getattr(args, name) is not None:
            raise BadParameter(f"--{name.replace('_', '-')} {getattr(args, name)} applies to 'adderhw demo digits' "
                               f"only, not to the quick demo")
    if args.scheduler is not None:
        raise BadParameter(f"--scheduler {args.scheduler} applies to 'adderhw demo digits' only, not to the quick demo")
    if args.train:
        raise BadParameter("--train applies to 'adderhw demo digits' only; the quick demo trains nothing")
    out = check_output_dir("--out", args.out or "out/demo")
    # start-up: deferred (module docstring)
    from adderhw.demo import run_demo
    text, ok = run_demo(out_dir=out, seed=args.seed)
    print(text)
    return 0 if ok else 1


def cmd_engine(args):
    out = check_output_dir("--out", args.out)
    # start-up: deferred (module docstring)
    from adderhw.engine import EngineRunConfig, run_engine_flow
    cfg = EngineRunConfig(network=args.network, pe=args.pe, rows=args.rows, cols=args.cols, width=args.width,
                          mac_rows=args.mac_rows, sim=args.sim, images=args.images, seed=args.seed,
                          epochs=args.epochs, train=args.train, first_last=args.first_last, requant=args.requant,
                          shift_terms=args.shift_terms, quant=args.quant, group=args.group, qat_epochs=args.qat_epochs,
                          post_lanes=args.post_lanes, dataflow=args.dataflow or "systolic", program=args.program,
                          data=args.data)
    r = run_engine_flow(cfg, out, progress=_say)
    _say(f"wrote {out / 'engine.json'}, {out / 'engine.md'} and {out / 'engine.png'}")
    return 0 if r["bit_exact"] and r["cycles_match_model"] else 1


def cmd_compile(args):
    out = check_output_file("-o/--output", args.output)
    # start-up: deferred (module docstring)
    from adderhw.compile import QUANTS
    if args.quant not in QUANTS:
        raise BadParameter(f"--quant must be one of {', '.join(QUANTS)}, not {args.quant!r}")
    if args.requant not in REQUANT_KINDS:
        raise BadParameter(f"--requant must be one of {', '.join(REQUANT_KINDS)}, not {args.requant!r}")
    if out.suffix != ".npz":
        raise BadParameter(f"-o/--output {str(out)!r} must name a .npz file (the program file's format)")
    # start-up: deferred (module docstring)
    from adderhw.compile import compile_model, load_calibration
    from adderhw.golden.compiler import evaluate
    from adderhw.golden.program_file import write_program
    from adderhw.user_model import load_user_model
    _say(f"[1/3] the model {args.model}" + (f" with the weights {args.weights}" if args.weights else ""))
    model = load_user_model(args.model, args.weights)
    x, y = load_calibration(args.calib)
    _say(f"[2/3] imported and compiled: {args.quant}, {args.width}-bit, requant {args.requant}, "
         f"calibrated on {min(len(x), args.calib_images)} of {len(x)} images")
    compiled, imported, digest = compile_model(model, (x, y), width=args.width, quant=args.quant,
                                               requant=args.requant, shift_terms=args.shift_terms,
                                               name=args.name, calib_images=args.calib_images,
                                               qat_epochs=args.qat_epochs, seed=args.seed)
    program = compiled.program
    write_program(out, program, compiled.logit_frac, compiled.scales, digest, type(model).__name__)
    steps = ", ".join(f"{getattr(s, 'name', '?')} ({getattr(s, 'op', '?')})" for s in program.layers)
    _say(f"[3/3] wrote {out}: program {program.name!r}, {len(program.layers)} steps: {steps}")
    if y is not None:
        e = evaluate(imported, program, x, y)
        _say(f"  on the {e.images} calibration images (labelled): float {100 * e.float_accuracy:.2f} %, "
             f"the {args.width}-bit program {100 * e.int_accuracy:.2f} %")
    return 0


def cmd_run(args):
    out = check_output_dir("--out", args.out) if args.out else None
    # start-up: deferred (module docstring)
    from adderhw.run import BoardRunConfig, run_board_flow
    cfg = BoardRunConfig(port=args.port, network=args.network, pe=args.pe, rows=args.rows, cols=args.cols,
                         width=args.width, mac_rows=args.mac_rows, images=args.images, baud=args.baud, seed=args.seed,
                         train=args.train, first_last=args.first_last, requant=args.requant,
                         shift_terms=args.shift_terms, post_lanes=args.post_lanes,
                         dataflow=args.dataflow or "systolic", program=args.program,
                         data=args.data, board=args.board, clock_mhz=args.clock_mhz)
    r = run_board_flow(cfg, out, progress=_say)
    link = "n/a" if r["link_images_per_s"] is None else f"{r['link_images_per_s']:,.0f}"
    acc = ("no labels" if r["correct"] is None else
           f"accuracy {100 * r['correct'] / r['images']:.2f} % ({r['correct']}/{r['images']})")
    _say(f"{acc}, every class equal to the golden program; images/s over the link {link} ({r['link_seconds_kind']}), link-bound at {r['baud']} baud "
         f"{r['link_bound_images_per_s_at_baud']:,.1f}; the engine alone {r['engine_images_per_s']:,.0f} images/s "
         f"at {r['clk_hz'] / 1e6:g} MHz")
    if out:
        _say(f"wrote {out / 'run.json'} and {out / 'run.md'}")
    return 0


def cmd_train(args):
    out = check_output_dir("--out", args.out)
    # start-up: deferred (module docstring)
    from adderhw.engine import EngineRunConfig
    from adderhw.golden.trained import save_weights, trained_network
    EngineRunConfig(network=args.network, pe=args.pe, seed=args.seed, epochs=args.epochs,
                    first_last=args.first_last)                                                 # the same checks
    net = trained_network(args.network, not pe_kind(args.pe).has_multiplier, args.seed, args.epochs, fresh=True, progress=_say,
                          first_last=args.first_last)
    meta = save_weights(out / f"{net.name}.npz", net.model, net.meta)
    _say(f"float test accuracy {100 * meta['test_accuracy']:.2f} %; trained with {meta['fingerprint']}; "
         f"sha256 {meta['sha256']}")
    _say(f"wrote {out / (net.name + '.npz')}")
    return 0


def cmd_demo_digits(args):
    out = check_output_dir("--out", args.out or "out/digits")
    # start-up: deferred (module docstring)
    from adderhw.digits import DigitsConfig, format_digits, run_digits, write_reports
    import torch
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    base = DigitsConfig()
    defaults = {"epochs": base.epochs, "hw_width": base.array.width, "rows": base.array.rows,
                "cols": base.array.cols, "small_batch": base.small_batch, "verilog_backend": base.verilog_backend,
                "verilog_batch": base.verilog_batch}
    opt = {name: defaults[name] if getattr(args, name) is None else getattr(args, name) for name in DIGITS_OPTIONS}
    for name in ("epochs", "small_batch", "rows", "cols"):
        if opt[name] < 1:
            raise BadParameter(f"--{name.replace('_', '-')} must be a positive integer, not {opt[name]}")
    if opt["verilog_batch"] < 0:
        raise BadParameter(f"--verilog-batch must be 0 (the whole test set) or positive, not {opt['verilog_batch']}")
    array = base.array.with_(rows=opt["rows"], cols=opt["cols"], width=opt["hw_width"])     # validates the array
    conf = DigitsConfig(epochs=opt["epochs"], array=array, small_batch=opt["small_batch"],
                        verilog_backend=opt["verilog_backend"], verilog_batch=opt["verilog_batch"], seed=args.seed,
                        train=args.train)
    result = run_digits(conf, progress=_say, scheduler=_scheduler(args))
    text = format_digits(result)
    print(text)
    out = write_reports(result, out)
    _say(f"wrote {out / 'digits.json'}, {out / 'digits.md'} and {out / 'digits.png'}")
    mism = sum(h["mismatches"] for h in result["hardware"].values())
    cyc_bad = [c for h in result["hardware"].values() for c in h["cycles"] if c["measured"] != c["model"]]
    if mism or cyc_bad:
        _say(f"FAIL: hardware values that differ from golden: {mism}; runs whose cycles differ from the cycle "
             f"model: {len(cyc_bad)}")
        return 1
    return 0


def cmd_quantise(args):
    out = check_output_dir("--out", args.out)
    # start-up: deferred (module docstring)
    from adderhw.quantise import QuantiseConfig, run_quantise
    networks = tuple(n for n in args.networks.split(",") if n)
    mnist_seeds = None if args.mnist_seeds is None else tuple(_int_list(args.mnist_seeds, "--mnist-seeds", 0))
    conf = QuantiseConfig(networks=networks, seeds=tuple(_int_list(args.seeds, "--seeds", 0)), mnist_seeds=mnist_seeds,
                          widths=tuple(_int_list(args.widths, "--widths", 2)), digits_epochs=args.digits_epochs,
                          mnist_epochs=args.mnist_epochs, qat_epochs=args.qat_epochs, group=args.group,
                          train=args.train)
    rtl = None
    if args.rtl_widths:
        # start-up: deferred (module docstring)
        from adderhw.quantise_rtl import QuantiseRtlConfig
        rtl = QuantiseRtlConfig(widths=tuple(_int_list(args.rtl_widths, "--rtl-widths", 2)),
                                seed=conf.seeds[0] if args.rtl_seed is None else args.rtl_seed,
                                epochs=conf.digits_epochs, qat_epochs=conf.qat_epochs, calib=conf.calib, group=conf.group,
                                backend=args.rtl_backend, images=args.rtl_images, train=args.train)
    result = run_quantise(conf, out_dir=out, progress=_say, rtl=rtl)
    # start-up: deferred (module docstring)
    from adderhw.quantise import format_quantise
    print(format_quantise(result))
    _say(f"wrote {out / 'quantise.json'}, {out / 'quantise.md'} and {out / 'quantise.png'}")
    return 0


# ---------------------------------------------------------------- bench
def cmd_bench_accuracy(args):
    out = check_output_dir("--out", args.out)
    # start-up: deferred (module docstring)
    from adderhw.bench_accuracy import AccuracyBenchConfig, format_accuracy_bench, run_accuracy_bench

    def names(text):
        return tuple(v for v in text.split(",") if v)
    conf = AccuracyBenchConfig(networks=names(args.networks), seeds=tuple(_int_list(args.seeds, "--seeds", 0)),
                               widths=tuple(_int_list(args.widths, "--widths", 2)),
                               first_last=names(args.first_last), requants=names(args.requants),
                               quants=names(args.quants), group=args.group, qat_epochs=args.qat_epochs,
                               digits_epochs=args.digits_epochs, mnist_epochs=args.mnist_epochs)
    result = run_accuracy_bench(conf, out, progress=_say)
    print(format_accuracy_bench(result))
    _say(f"wrote {out / 'bench_accuracy.json'}, .md and .png")
    return 0


def cmd_bench_golden(args):
    _check_out_dirs(args)
    # start-up: deferred (module docstring)
    from adderhw.bench_golden import format_table, run_bench
    result = run_bench(repeats=args.repeats, progress=_say)
    _finish_study(args.out, "bench_golden", result, format_table)
    return 0


# ---------------------------------------------------------------- verilog
def _config_from(args, **extra):
    fields = dict(rows=args.rows, cols=args.cols, width=args.width, k_max=args.k_max, pe=args.pe)
    kind = pe_kind(args.pe)
    if getattr(args, "mul_stages", None) is not None:
        if not kind.has_multiplier:
            raise BadParameter(f"--mul-stages {args.mul_stages} applies to MAC arrays only, not to --pe sad")
        fields["mul_stages"] = args.mul_stages
    if getattr(args, "sad_stage", None) is not None:
        if kind.has_multiplier:
            raise BadParameter(f"--sad-stage {args.sad_stage} applies to SAD arrays only, not to --pe {args.pe}")
        fields["sad_stage"] = args.sad_stage
    if getattr(args, "skew", None) is not None:
        fields["skew"] = args.skew
    if getattr(args, "dataflow", None) is not None:
        fields["dataflow"] = args.dataflow
    if getattr(args, "target", "generic") != "generic" and not kind.has_multiplier:
        raise BadParameter(f"--target {args.target} applies to MAC arrays only (their multipliers), not to "
                           f"--pe sad: a SAD array's Verilog is the same for every target")
    fields.update(extra)
    return ArrayConfig(**fields)


def cmd_verilog(args):
    cfg = _config_from(args)
    out = check_output_file("-o/--output", args.output)
    text = generate_verilog(cfg, name=args.name, target=args.target)
    record = config_record(cfg, args.name)
    if args.target != "generic":
        record["target"] = args.target
    out.write_text(text)
    sidecar = out.with_suffix(".json")
    sidecar.write_text(json.dumps(record, indent=2) + "\n")
    ports = ", ".join(f"{p['name']}[{p['width']}]" if p["width"] > 1 else p["name"] for p in record["ports"])
    sign = "signed" if cfg.acc_signed else "unsigned"
    print(f"{out}: module {args.name}, {cfg.rows}x{cfg.cols} {cfg.kind.label}, {cfg.width}-bit operands; "
          f"accumulator {cfg.acc_width} bits {sign}; PE latency {cfg.pe_stages} cycles"
          + (f"; SAD stage 1: {cfg.sad_stage}" if cfg.sad_stage != "difference" else "")
          + (f"; skew in {cfg.skew}" if cfg.skew != "registers" else "")
          + (f"; {cfg.dataflow} dataflow" if cfg.dataflow != "systolic" else "")
          + ("; MULT18X18D blocks with their own registers" if args.target == "ecp5-dsp" and cfg.kind.has_multiplier else "")
          + f"; ports: {ports}")
    print(f"{sidecar}: the config, derived widths, ports and payload bit layouts as JSON")
    return 0


# ---------------------------------------------------------------- simulate
#: T, K and P of ``simulate`` without --a/--b
SIM_SHAPE = {"t": 8, "k": 16, "p": 8}


def cmd_simulate(args):
    # start-up: deferred (module docstring)
    from adderhw.simulate import format_report, load_operands, simulate
    from adderhw.sim.waves import waves_format
    if not 0.0 <= args.stall_prob < 1.0:
        raise BadParameter(f"--stall-prob must be at least 0 and below 1, not {args.stall_prob}")
    if args.json:
        check_output_file("--json", args.json)
    waves_format(args.waves, args.sim, option="--waves")
    a = b = None
    if args.a is not None or args.b is not None:
        for name in SIM_SHAPE:
            if getattr(args, name) is not None:
                raise BadParameter(f"--{name} {getattr(args, name)} cannot be combined with --a and --b, "
                                   f"whose shapes give T, K and P")
        a, b = load_operands(args.a, args.b)
        t, k, p = a.shape[0], a.shape[1], b.shape[1]
    else:
        t, k, p = (SIM_SHAPE[n] if getattr(args, n) is None else getattr(args, n) for n in SIM_SHAPE)
    cfg = _config_from(args, k_max=args.k_max or max(k, 1))    # a bad K is refused by name below
    report = simulate(cfg, args.sim, t, k, p, seed=args.seed, stall_prob=args.stall_prob,
                      waves=args.waves, a=a, b=b, driver=args.driver, progress=_say, target=args.target)
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0 if report["passed"] else 1


def cmd_bench_sim(args):
    _check_out_dirs(args)
    # start-up: deferred (module docstring)
    from adderhw.simulate import bench_sim, format_bench
    result = bench_sim(ArrayConfig(rows=8, cols=8, width=args.width, pe=args.pe), progress=_say)
    _finish_study(args.out, "bench_sim", result, format_bench)
    return 0


# ---------------------------------------------------------------- compare
def _fmax_from_report(path, option, expect):
    """Fmax of a build report, after checking that it was built for the array ``expect``."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BadParameter(f"{option} {path!r} is not a readable JSON report ({exc})") from None
    if not isinstance(doc, dict):
        raise BadParameter(f"{option} {path!r} is not a build report (write it with adderhw build)")
    check_record_config(doc, option, expect)
    f = doc.get("fmax_mhz")
    if not isinstance(f, (int, float)) or f <= 0:
        raise BadParameter(f"{option} {path!r} has no positive fmax_mhz (write it with adderhw build)")
    return float(f)


def cmd_compare(args):
    # start-up: deferred (module docstring)
    from adderhw.compare import compare_network, format_compare, plot_compare
    from adderhw.golden.networks import network
    for name in ("rows", "cols", "width", "batch"):
        v = getattr(args, name)
        if v < 1:
            raise BadParameter(f"--{name} must be a positive integer, not {v}")
    if args.out:
        check_output_dir("--out", args.out)
    net = network(args.network)
    sad_shape = None
    if args.sad_rows or args.sad_cols:
        sad_shape = (args.sad_rows or args.rows, args.sad_cols or args.cols)
    config = ArrayConfig(rows=args.rows, cols=args.cols, width=args.width)          # validates the array
    sad_config = config.with_(rows=sad_shape[0], cols=sad_shape[1]) if sad_shape else config
    fmax = {}
    if args.sad_report:
        fmax["sad"] = _fmax_from_report(args.sad_report, "--sad-report", sad_config.with_(pe="sad"))
    if args.mac_report:
        fmax["mac"] = _fmax_from_report(args.mac_report, "--mac-report", config.with_(pe="mac"))
    result = compare_network(net, config, args.batch, fmax, sad_shape)
    table = format_compare(result)
    print(table)
    if args.out:
        out = Path(args.out)
        _write_reports(out, "compare", result, table)
        plot_compare(result, out / "compare.png")
        _say(f"wrote {out / 'compare.png'}")
    return 0


# ---------------------------------------------------------------- boards
def _clock_mhz(text):
    """--clock-mhz: None, "auto" or a number of MHz (the PLL checks its range)."""
    if text is None or text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise BadParameter(f"--clock-mhz must be a number of MHz or auto, not {text!r}") from None


def _nextpnr_options(parser, prefix):
    parser.add_argument("--placer", default=None,
                        help=f"{prefix}nextpnr's placer: {', '.join(NEXTPNR_PLACERS)} (default "
                             f"{NEXTPNR_DEFAULTS['placer']})")
    parser.add_argument("--router", default=None,
                        help=f"{prefix}nextpnr's router: {', '.join(NEXTPNR_ROUTERS)} (default "
                             f"{NEXTPNR_DEFAULTS['router']})")


def _stamp_report(report, out, argv):
    """A build's report with the command that made it (``argv`` as typed) and the commit of the code
    that ran (base.provenance), written back to ``out``/report.json, so that a copied build result
    says how to make it again."""
    report = stamp({**report, "command": typed_command(argv)})
    Path(out).mkdir(parents=True, exist_ok=True)
    (Path(out) / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


def cmd_build_engine(args):
    if args.freq is not None:
        raise BadParameter(f"--freq {args.freq:g} does not apply to --top engine: it runs at the board's oscillator "
                           f"clock or, with --clock-mhz, at its PLL's (the UART's divisor depends on it); its Fmax "
                           f"is reported")
    for name in ("mul_stages", "sad_stage", "skew"):
        if getattr(args, name, None) is not None:
            raise BadParameter(f"--{name.replace('_', '-')} {getattr(args, name)} applies to --top array only: the "
                               f"engine's arrays are built with their defaults (golden.network_program.engine_for)")
    out = check_output_dir("--out", args.out)
    if args.board not in ENGINE_BOARDS:
        raise BadParameter(f"board must be one of {', '.join(ENGINE_BOARDS)} for --top engine, not {args.board!r}")
    clock_mhz = _clock_mhz(args.clock_mhz)
    check_nextpnr_options(args.placer, args.router, prefix="--")
    if args.pll_margin is not None and clock_mhz != "auto":
        raise BadParameter(f"--pll-margin {args.pll_margin:g} applies to --clock-mhz auto only, not to "
                           + ("a fixed clock" if clock_mhz else "the oscillator's clock"))
    margin = check_pll_margin(PLL_MARGIN_PCT if args.pll_margin is None else args.pll_margin, "--pll-margin")
    engine_build.check_time_limit(args.time_limit, board_by_name(args.board).family, "--time-limit")
    if clock_mhz not in (None, "auto"):             # refuse a clock the PLL cannot make before any training
        b = board_by_name(args.board)
        solve_pll(b.family, oscillator_hz(b.platform_class()), clock_mhz)
    # start-up: deferred (module docstring)
    from adderhw.engine import EngineRunConfig, engine_for, network_program
    from adderhw.golden.engine_cycles import engine_cycles
    EngineRunConfig(network=args.network, pe=args.pe, rows=args.rows, cols=args.cols, width=args.width,
                    mac_rows=args.mac_rows, first_last=args.first_last or "mul", requant=args.requant or "mul",
                    shift_terms=args.shift_terms, post_lanes=args.post_lanes)   # the engine flow's checks
    # start-up: deferred (module docstring)
    from adderhw.workload import check_program_data, program_workload
    check_program_data(args.program, None, data_needed=False)
    if args.program is not None:
        w = program_workload(args.program)
        program, pe, network, exact = w.program, w.pe, w.program.name, w.exact_depths
    else:
        _, _, program, _ = network_program(args.network, args.pe, args.width, progress=_say,
                                           first_last=args.first_last or "mul", requant=args.requant or "mul",
                                           shift_terms=args.shift_terms)
        pe, network, exact = args.pe, args.network, False
    engine = engine_for(program, args.rows, args.cols, pe, args.mac_rows, args.post_lanes, exact_depths=exact,
                        dataflow=args.dataflow or "systolic")
    per_image = engine_cycles(engine, program)["total"] / engine.lanes
    seeds = _int_list(args.seed, "--seed", 0)
    if len(set(seeds)) != len(seeds):
        raise BadParameter(f"--seed must list distinct seeds, not {args.seed!r}")
    options = dict(baud=args.baud, dsp=args.dsp is not False, seed=seeds, out_dir=out, progress=_say,
                   time_limit_min=args.time_limit,
                   extra={"network": network, **({"program_file": args.program} if args.program else {})},
                   breakdown=args.breakdown, placer=args.placer, router=args.router)
    if clock_mhz == "auto":
        r = engine_build.build_engine_board_auto_clock(args.board, engine, per_image, margin_pct=margin, **options)
    else:
        r = engine_build.build_engine_board(args.board, engine, per_image, clock_mhz=clock_mhz, **options)
    r = _stamp_report(r, out, args.argv)
    print(f"{r['board']} ({r['device']}): {network} engine {r['engine']}\n"
          f"  logic {r['logic']['used']}/{r['logic']['available']} {r['logic']['cell']}; {r['luts']} LUT4s, "
          f"{r['ffs']} flip-flops; DSP {r['dsp']['used']}/{r['dsp']['available']}; block RAM "
          f"{r['bram']['used']}/{r['bram']['available']}"
          + (f"; SPRAM {r['spram']['used']}/{r['spram']['available']}" if r.get("spram", {}).get("available") else "")
          + "\n"
          f"  clock {r['clock_mhz']:g} MHz ("
          + (f"PLL {r['pll']['primitive']} {' '.join(f'{k}={v}' for k, v in r['pll']['dividers'].items())} from the "
             f"{r['oscillator_mhz']:g} MHz oscillator, asked for {r['clock_target_mhz']:g}" if r["pll"] else "the oscillator")
          + f"); UART {r['baud_choice']}\n"
          f"  Fmax {r['fmax_mhz']:.1f} MHz (clock {r['clock_mhz']:g} MHz, timing {'met' if r['timing_met'] else 'NOT met'}); "
          f"{r['cycles_per_image']:.1f} cycles per image: {r['images_per_s_at_clock']:,.0f} images/s at the clock, "
          f"{r['images_per_s_at_fmax']:,.0f} at Fmax\n  bitstream {out / r['bitstream'] if r['bitstream'] else 'none'}")
    auto = r.get("auto_clock")
    if auto:
        first = auto["first_build"]
        print(f"  clock auto: Fmax {first['fmax_mhz']:.1f} MHz at the {first['clock_mhz']:g} MHz oscillator; "
              f"{auto['why']}"
              + "".join(f"; Fmax {b['fmax_mhz']:.1f} MHz at {b['clock_mhz']:g} MHz through the PLL"
                        for b in auto.get("pll_builds", []))
              + f": timing {'met' if auto['timing_met'] else 'NOT met'} at {auto['clock_mhz']:g} MHz")
    for t in r.get("seeds_tried", []):
        print(f"  seed {t['seed']}: {t['outcome']}"
              + (f", Fmax {t['fmax_mhz']:.1f} MHz" if "fmax_mhz" in t else f" ({t['reason']})"))
    if (r.get("placer"), r.get("router")) != ("heap", "router1"):
        print(f"  nextpnr placer {r['placer']}, router {r['router']}, {r['build_seconds']:g} s")
    cp = r.get("critical_path")
    if cp:
        print(f"  critical path {cp['from_cell']} -> {cp['to_cell']}: {cp['delay_ns']:.2f} ns, "
              f"{cp['logic_levels']} logic levels")
    if r.get("blocks"):
        # an SPRAM column where the device has SPRAM (the iCE40UP5K)
        spram = bool(r.get("spram", {}).get("available"))
        rows = [[name, f"{b['luts']:,}", f"{b['carry_cells']:,}", f"{b['ffs']:,}", b["bram"]]
                + ([b.get("spram", 0)] if spram else []) + [b["dsp"]] for name, b in r["blocks"].items()]
        print(markdown_table(["block", "LUT4", "carry", "FF", "BRAM"] + (["SPRAM"] if spram else []) + ["DSP"], rows,
                             "lrrrr" + "r" * spram + "r"))
    _say(f"wrote {out / 'report.json'}; talk to the board with adderhw run --baud {r['baud']}")
    return 0


def cmd_compare_boards(args):
    out = check_output_dir("--out", args.out)
    build_dir = check_output_dir("--build-dir", args.build_dir)
    # start-up: deferred (module docstring)
    from adderhw.boards.engine_compare import check_largest_post_lanes, compare_boards, parse_sizes
    from adderhw.board_reports import format_compare_boards, plot_compare_boards
    from adderhw.engine import EngineRunConfig
    EngineRunConfig(network=args.network, mac_rows=args.mac_rows)           # the engine flow's checks
    sizes = parse_sizes(args.sizes)
    if args.largest:
        check_largest_post_lanes(args.post_lanes)
    else:
        for shapes in sizes.values():
            for _, cols, _ in shapes:
                check_post_lanes(args.post_lanes, cols)
    if args.largest and args.breakdown:
        raise BadParameter("--breakdown applies to the equal-array comparison, not to --largest")
    check_nextpnr_options(args.placer, args.router, prefix="--")
    flow = args.dataflow or "systolic"
    flow_flag = dataflow_flag(flow)
    pnr = (f" --placer {args.placer}" if args.placer else "") + (f" --router {args.router}" if args.router else "")
    if not args.largest:
        if args.fine is not None:
            raise BadParameter(f"{'--fine' if args.fine else '--no-fine'} applies to --largest only, not to the "
                               "equal-array comparison")
        if args.max_fine_probes is not None:
            raise BadParameter(f"--max-fine-probes {args.max_fine_probes} applies to --largest only, not to the "
                               "equal-array comparison")
        if args.aspect is not None:
            raise BadParameter(f"--aspect {args.aspect} applies to --largest only, not to the equal-array comparison")
    if args.largest:
        # start-up: deferred (module docstring)
        from adderhw.boards.engine_compare import FINE_ASPECT, MAX_FINE_PROBES, compare_largest
        from adderhw.board_reports import format_compare_largest
        fine = args.fine is not False
        max_fine = check_int("--max-fine-probes", MAX_FINE_PROBES if args.max_fine_probes is None
                             else args.max_fine_probes, lo=1)
        if not fine and args.max_fine_probes is not None:
            raise BadParameter(f"--max-fine-probes {args.max_fine_probes} applies to the fine stage, which "
                               "--no-fine turns off")
        if not fine and args.aspect is not None:
            raise BadParameter(f"--aspect {args.aspect} applies to the fine stage, which --no-fine turns off")
        aspect = check_int("--aspect", FINE_ASPECT if args.aspect is None else args.aspect, lo=1)
        starts = {board: shapes[0][:2] for board, shapes in sizes.items()}
        res = compare_largest(args.network, starts, args.mac_rows, args.seed, args.max_pes, build_dir, progress=_say,
                              first_last=args.first_last, requant=args.requant, fine=fine, max_fine_probes=max_fine,
                              placer=args.placer, router=args.router, post_lanes=args.post_lanes, dataflow=flow,
                              aspect=aspect)
        res["command"] = (f"adderhw compare-boards --network {args.network} --sizes {args.sizes} --largest "
                          f"--mac-rows {args.mac_rows} --seed {args.seed} --max-pes {args.max_pes}"
                          + (f" --first-last {args.first_last}" if args.first_last != "mul" else "")
                          + (f" --requant {args.requant}" if args.requant != "mul" else "")
                          + (f" --post-lanes {args.post_lanes}" if args.post_lanes else "") + flow_flag
                          + (f" --max-fine-probes {max_fine}" if fine else " --no-fine")
                          + (f" --aspect {aspect}" if fine and aspect != FINE_ASPECT else "") + pnr)
        _finish_study(out, "compare_largest", res, format_compare_largest)
        return 0
    dsp_modes = {"both": (True, False), "yes": (True,), "no": (False,), None: None}[args.dsp]
    res = compare_boards(args.network, sizes, args.mac_rows, args.seed, build_dir, progress=_say,
                         first_last=args.first_last, requant=args.requant, dsp_modes=dsp_modes, breakdown=args.breakdown,
                         placer=args.placer, router=args.router, post_lanes=args.post_lanes, dataflow=flow)
    res["command"] = (f"adderhw compare-boards --network {args.network} --sizes {args.sizes} --mac-rows {args.mac_rows} "
                      f"--seed {args.seed}" + (f" --first-last {args.first_last}" if args.first_last != "mul" else "")
                      + (f" --requant {args.requant}" if args.requant != "mul" else "")
                      + (f" --post-lanes {args.post_lanes}" if args.post_lanes else "") + flow_flag
                      + (f" --dsp {args.dsp}" if args.dsp else "") + (" --breakdown" if args.breakdown else "") + pnr)
    _finish_study(out, "compare_boards", res, format_compare_boards, plot_compare_boards)
    _say(f"wrote {out / 'compare_boards.json'}, .md and .png")
    return 0


def cmd_build(args):
    if args.breakdown and args.top != "engine":
        raise BadParameter(f"--breakdown applies to --top engine, not --top {args.top}")
    if args.top == "engine":
        return cmd_build_engine(args)
    if args.top != "array":
        raise BadParameter(f"--top must be array or engine, not {args.top!r}")
    for name in ("first_last", "requant", "clock_mhz", "baud", "pll_margin", "placer", "router", "program",
                 "time_limit"):
        if getattr(args, name) is not None:
            raise BadParameter(f"--{name.replace('_', '-')} {getattr(args, name)} applies to --top engine only, "
                               f"not to an array build")
    cfg = _config_from(args)
    if args.dsp is not None and not cfg.kind.has_multiplier:
        flag = "--dsp" if args.dsp else "--no-dsp"
        raise BadParameter(f"{flag} applies to MAC arrays only (a SAD PE has no multiplier), not to --pe sad")
    seeds = _int_list(args.seed, "--seed", 0)
    if len(seeds) != 1:
        raise BadParameter(f"--seed takes one seed for an array build (a list of seeds is for --top engine), "
                           f"not {args.seed!r}")
    out = check_output_dir("--out", args.out)
    report = _stamp_report(build_board(args.board, cfg, freq_mhz=args.freq, dsp=args.dsp is not False,
                                       seed=seeds[0], out_dir=out, progress=_say), out, args.argv)
    print(summarise(report))
    _say(f"wrote {Path(args.out) / 'report.json'}")
    return 0


def _boards_list(text):
    names = [b.strip() for b in text.split(",") if b.strip()]
    for n in names:
        if n not in BOARDS:
            raise BadParameter(f"board must be one of {', '.join(BOARDS)}, not {n!r}")
    return names


def cmd_bench_pe(args):
    _check_out_dirs(args)
    # start-up: deferred (module docstring)
    from adderhw.boards.bench import bench_pe
    from adderhw.board_reports import format_bench_pe, plot_bench_pe
    baseline = None
    if args.baseline:
        try:
            baseline = json.loads(Path(args.baseline).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise BadParameter(f"--baseline {args.baseline!r} is not a readable JSON baseline ({exc})") from None
    sizes = [int(v) for v in args.sizes.split(",")]
    if len(sizes) < 3 or any(n < 1 for n in sizes) or sorted(set(sizes)) != sizes:
        raise BadParameter(f"--sizes must be at least three increasing positive integers, not {args.sizes!r}")
    common = dict(boards=_boards_list(args.boards), sizes=sizes, k_max=args.k_max, freq=args.freq,
                  out_dir=args.build_dir, jobs=args.jobs, progress=_say, scheduler=_scheduler(args))
    if args.widths:
        if baseline is not None:
            raise BadParameter("--baseline checks one width; it does not apply with --widths")
        # start-up: deferred (module docstring)
        from adderhw.boards.bench import bench_pe_widths
        from adderhw.board_reports import format_bench_pe_widths, plot_bench_pe_widths
        widths = _int_list(args.widths, "--widths", 2)
        for w in widths:
            ArrayConfig(width=w, k_max=args.k_max)          # the width check, before any build
        res = bench_pe_widths(widths, **common)
        table = format_bench_pe_widths(res)
        print(table)
        if args.out:
            for w, r in res["by_width"].items():
                _write_reports(args.out, f"bench_pe_w{w}", r, format_bench_pe(r))
            _write_reports(args.out, "bench_pe_widths", res, table)
            plot_bench_pe_widths(res, Path(args.out) / "bench_pe_widths.png")
        return 0
    result = bench_pe(width=args.width, **common)
    table = format_bench_pe(result)
    print(table)
    if args.out:
        _write_reports(args.out, "bench_pe", result, table)
        plot_bench_pe(result, Path(args.out) / "bench_pe.png")
    if baseline is not None:
        # start-up: deferred (module docstring)
        from adderhw.boards.bench import check_baseline
        bad = check_baseline(result, baseline)
        for line in bad:
            _say(f"baseline: {line}")
        _say(f"baseline {args.baseline}: " + ("FAIL" if bad else "within tolerance"))
        return 1 if bad else 0
    return 0


def cmd_bench_lanes(args):
    out = check_output_dir("--out", args.out)
    # start-up: deferred (module docstring)
    from adderhw.engine import EngineRunConfig
    from adderhw.boards.lanes_bench import bench_lanes, lane_choices
    from adderhw.board_reports import format_bench_lanes, plot_bench_lanes
    EngineRunConfig(network=args.network, rows=args.rows, cols=args.cols, mac_rows=args.mac_rows,
                    first_last=args.first_last, requant=args.requant)            # the engine flow's checks
    lanes = None if args.lanes is None else _int_list(args.lanes, "--lanes", 1)
    lane_choices(args.cols, lanes)                                              # before any build
    res = bench_lanes(args.board, args.rows, args.cols, args.network, lanes, args.first_last, args.requant,
                      args.mac_rows, args.seed, args.build_dir, progress=_say)
    res["command"] = (f"adderhw bench lanes --board {args.board} --rows {args.rows} --cols {args.cols} "
                      f"--network {args.network} --first-last {args.first_last} --requant {args.requant} "
                      f"--mac-rows {args.mac_rows} --seed {args.seed}" + (f" --lanes {args.lanes}" if args.lanes else ""))
    _finish_study(out, "bench_lanes", res, format_bench_lanes, plot_bench_lanes)
    return 0


def cmd_bench_compile(args):
    out = check_output_dir("--out", args.out)
    # start-up: deferred (module docstring)
    from adderhw.bench_compile import bench_compile, format_bench_compile
    res = bench_compile(args.depth, args.images, args.repeats, progress=_say)
    _finish_study(out, "bench_compile", res, format_bench_compile)
    return 0


def cmd_bench_engine_fmax(args):
    out = check_output_dir("--out", args.out)
    # start-up: deferred (module docstring)
    from adderhw.engine import EngineRunConfig
    from adderhw.boards.engine_fmax import bench_engine_fmax
    from adderhw.board_reports import format_bench_engine_fmax
    EngineRunConfig(network=args.network, rows=args.rows, cols=args.cols, first_last=args.first_last,
                    requant=args.requant, post_lanes=args.post_lanes)           # the engine flow's checks
    seeds = _int_list(args.seeds, "--seeds", 1)
    res = bench_engine_fmax(args.board, args.rows, args.cols, args.network, seeds, args.first_last, args.requant,
                            post_lanes=args.post_lanes, build_dir=args.build_dir, progress=_say,
                            dataflow=args.dataflow or "systolic")
    res["command"] = (f"adderhw bench engine-fmax --board {args.board} --rows {args.rows} --cols {args.cols} "
                      f"--network {args.network} --seeds {args.seeds} --first-last {args.first_last} "
                      f"--requant {args.requant}" + (f" --post-lanes {args.post_lanes}" if args.post_lanes != DEFAULT_POST_LANES else "")
                      + dataflow_flag(args.dataflow))
    _finish_study(out, "bench_engine_fmax", res, format_bench_engine_fmax)
    return 0


def cmd_bench_fmax(args):
    _check_out_dirs(args)
    # start-up: deferred (module docstring)
    from adderhw.boards.fmax import DEFAULT_SIZES, bench_fmax
    from adderhw.board_reports import format_bench_fmax, plot_bench_fmax
    from adderhw.boards.kinds import kinds_from_pe_list
    boards = _boards_list(args.boards)
    kinds = kinds_from_pe_list(args.pe)
    seeds = _int_list(args.seeds, "--seeds", lo=1)
    sizes = None
    if args.sizes:
        sizes = {b: _int_list(args.sizes, "--sizes", lo=1) for b in boards}
    else:
        sizes = {b: DEFAULT_SIZES.get(b, (2, 4)) for b in boards}
    partial = None
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        partial = Path(args.out) / "bench_fmax.partial.json"
    result = bench_fmax(boards=boards, kinds=kinds, sizes=sizes, seeds=seeds, width=args.width, k_max=args.k_max,
                        sad_stage=args.sad_stage or "difference", skew=args.skew or "registers", freq=args.freq, jobs=args.jobs, out_dir=args.build_dir, progress=_say, partial=partial,
                        scheduler=_scheduler(args))
    _finish_study(args.out, "bench_fmax", result, format_bench_fmax, plot_bench_fmax, partial)
    return 0


def _scheduler(args):
    """--scheduler, else $ADDERHW_SCHEDULER, else None (the local process pool; Dask stays unimported)."""
    return scheduler_from_env(args.scheduler)


def _int_list(text, option, lo=None):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise BadParameter(f"{option} must be a comma-separated list of integers, not {text!r}") from None
    if not values or (lo is not None and min(values) < lo):
        raise BadParameter(f"{option} must list integers of at least {lo}, not {text!r}")
    return tuple(values)


def cmd_sweep(args):
    _check_out_dirs(args)
    # start-up: deferred (module docstring)
    from adderhw.boards.kinds import kinds_from_pe_list
    from adderhw.boards.sweep import sweep
    from adderhw.board_reports import format_sweep, plot_sweep
    kinds = kinds_from_pe_list(args.pe)
    template = ArrayConfig(width=args.width, k_max=args.k_max, sad_stage=args.sad_stage or "difference",
                           skew=args.skew or "registers")
    if args.max_pes is not None and args.max_pes < 1:
        raise BadParameter(f"--max-pes must be a positive integer, not {args.max_pes}")
    bounds = {k: args.max_pes for k in kinds} if args.max_pes else None
    if args.start_pes is not None and args.start_pes < 1:
        raise BadParameter(f"--start-pes must be a positive integer, not {args.start_pes}")
    partial = None
    stem = (f"sweep_{args.board}" + (f"_sad-{args.sad_stage}" if args.sad_stage not in (None, "difference") else "")
            + (f"_skew-{args.skew}" if args.skew not in (None, "registers") else "")
            + ("_area" if args.bound == "area" else ""))
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        partial = Path(args.out) / f"{stem}.partial.json"
    result = sweep(args.board, kinds, config=template, freq=args.freq, jobs=args.jobs,
                   seed=args.seed, out_dir=args.build_dir, progress=_say, start_bounds=bounds, partial=partial,
                   scheduler=_scheduler(args), bound=args.bound, start_pes=args.start_pes)
    _finish_study(args.out, stem, result, format_sweep, plot_sweep, partial)
    return 0


# ---------------------------------------------------------------- regress
def cmd_regress(args):
    _check_out_dirs(args)
    # start-up: deferred (module docstring)
    from adderhw.regress import format_regress, regress_gemm
    partial = None
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        partial = Path(args.out) / "regress.partial.json"
    result = regress_gemm(cases=args.cases, seed=args.seed, backend=args.sim, jobs=args.jobs,
                          scheduler=_scheduler(args), progress=_say, partial=partial, mutation=args.mutate)
    _finish_study(args.out, "regress", result, format_regress, partial=partial)
    return 1 if result["failed"] else 0


# ---------------------------------------------------------------- prove
def cmd_prove(args):
    # start-up: deferred (module docstring)
    from adderhw.prove import SOLVER, check_request, format_line, prove
    cfg = _config_from(args)
    props = [p.strip() for p in args.properties.split(",") if p.strip()] if args.properties is not None else None
    check_request(cfg, args.depth, props)
    note = f"; MUTATION {args.mutate} (failures expected)" if args.mutate else ""
    print(f"{cfg.describe()}; yowasp-sby + smtbmc {SOLVER}{note}", flush=True)
    results = prove(cfg, depth=args.depth, properties=props, cover=args.cover, out_dir=args.out,
                    progress=lambda r: print(format_line(r), flush=True), mutation=args.mutate)
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "UNKNOWN", "FAIL")}
    print(f"{counts['PASS']} passed, {counts['UNKNOWN']} bounded only (UNKNOWN), {counts['FAIL']} failed; "
          f"work files in {args.out}")
    return 1 if counts["FAIL"] else 0


def _add_array_args(p, *, k_max=True):
    p.add_argument("--rows", type=int, default=8, help="array rows R (default 8)")
    p.add_argument("--cols", type=int, default=8, help="array columns C (default 8)")
    p.add_argument("--width", type=int, default=8, help="operand width in bits, 2 to 16 (default 8)")
    if k_max:
        p.add_argument("--k-max", type=int, default=1152, help="largest reduction length K (default 1152)")
    _pe_option(p)
    p.add_argument("--mul-stages", type=int, default=None, help="MAC only: multiplier pipeline stages 1-3")
    _add_sad_stage_arg(p)
    _add_skew_arg(p)
    _add_dataflow_arg(p)


def _add_dataflow_arg(p, prefix=""):
    p.add_argument("--dataflow", choices=DATAFLOWS, default=None,
                   help=prefix + "how operands reach the PEs: systolic (one PE per cycle behind a skew, every wire "
                        "local; default) or broadcast (each row's and column's operands registered once and read by "
                        "every PE of it: no skew and no forwarding registers, fewer flip-flops, for small devices)")


def _add_mutate_arg(p, what):
    p.add_argument("--mutate", metavar="NAME", choices=MUTATIONS, default=None,
                   help=f"build the array with a deliberate bug, to show that {what} catch it: "
                        f"{', '.join(MUTATIONS)} (see adderhw.hw.mutation)")


def _add_skew_arg(p):
    p.add_argument("--skew", choices=["registers", "memory"], default=None,
                   help="how the array delays its input lanes (row r by r cycles, column c by c): flip-flop "
                        "chains (registers, default) or, for lanes of 4 cycles or more, RAM ring buffers "
                        "(memory: distributed RAM on ECP5, block RAM on iCE40; same cycles and results, "
                        "far fewer flip-flops on large arrays)")


def _add_target_arg(p):
    p.add_argument("--target", choices=TARGETS, default="generic",
                   help="the Verilog to write or simulate: generic (plain operators and registers, default) or "
                        "ecp5-dsp (as an ECP5 board build with DSP blocks elaborates it: each MAC PE's multiplier "
                        "is a MULT18X18D with its own registers; simulate runs it with adderhw's model of the "
                        "cell, icarus and verilator only)")


def _add_sad_stage_arg(p):
    p.add_argument("--sad-stage", choices=["difference", "operands"], default=None,
                   help="SAD only: the register between the PE's stages holds |a - b| (difference, default) "
                        "or nothing of its own, |a - b| formed from the operand registers (operands: "
                        "9 fewer flip-flops per 8-bit PE, same latency and results)")


def _int_at_least(lo, words):
    """An argparse type: an integer of at least ``lo``, else one sentence (``words``: "positive" ...)."""
    def parse(text):
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be a {words} integer, not {v}")
        return v
    return parse


_positive_int = _int_at_least(1, "positive")
_seed = _int_at_least(0, "non-negative")


def _add_executor_args(p, what):
    """--jobs and --scheduler: where the run's parallel jobs go (adderhw.base.executor)."""
    p.add_argument("--jobs", type=_positive_int, default=None,
                   help=f"parallel {what} (default 2 local processes; with --scheduler, the cluster's worker threads)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run the jobs on a Dask distributed cluster: tcp://HOST:8786, or local:N to start N local "
                        "workers (default $ADDERHW_SCHEDULER, else a local process pool)")


def _out_option(parser, stem, default=None, png=True, more=""):
    """--out: the directory a study writes ``stem``.json, .md (and .png) into; ``more``: what else."""
    parser.add_argument("--out", default=default,
                        help=f"directory for {stem}.json, .md" + (" and .png" if png else "") + more
                             + (f" (default {default})" if default else ""))


def _multiplier_free_options(p):
    """--first-last and --requant of the engine benchmarks, whose default is the multiplier-free engine."""
    p.add_argument("--first-last", default="adder", choices=("mul", "adder"),
                   help="AdderNet first and last layers (default adder: the multiplier-free engine)")
    p.add_argument("--requant", default="shift", choices=("mul", "shift"), help="requantisation (default shift)")


def _engine_build_dir_option(p):
    """--build-dir of the commands that build engines (their builds share one directory)."""
    p.add_argument("--build-dir", default="build/engines", help="where the builds go (reused when unchanged)")


def _add_board_bench_args(p, stem):
    """The options every board benchmark shares."""
    p.add_argument("--width", type=int, default=8, help="operand width (default 8)")
    p.add_argument("--k-max", type=int, default=144, help="k_max (default 144)")
    p.add_argument("--freq", type=float, default=None, help="target clock in MHz (default per family)")
    _add_executor_args(p, "builds")
    p.add_argument("--build-dir", default=f"build/{stem}", help="where the builds go (reused on a rerun)")
    _out_option(p, stem)


def _add_demo_parser(sub):
    """``adderhw demo`` and its options."""
    d = sub.add_parser("demo", help="the main job: 'demo' (golden, Verilog, a bit-exact RTL run, compare) "
                                    "or 'demo digits' (a trained AdderNet through the hardware)")
    d.add_argument("what", nargs="?", choices=["quick", "digits"], default="quick",
                   help="quick (default) or digits")
    d.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    d.add_argument("--out", default=None, help="directory for generated files (default out/demo or out/digits)")
    # digits only (default None: the quick demo refuses them rather than ignoring them)
    d.add_argument("--epochs", type=int, help="digits: training epochs (default 40)")
    d.add_argument("--hw-width", type=int, help="digits: width of the hardware run (default 8)")
    d.add_argument("--rows", type=int, help="digits: array rows (default 8)")
    d.add_argument("--cols", type=int, help="digits: array columns (default 8)")
    d.add_argument("--small-batch", type=int,
                   help="digits: images through Amaranth's simulator, at most the test set's 449 (default 4)")
    d.add_argument("--verilog-backend", choices=VERILOG_SIMULATORS,
                   help="digits: Verilog simulator for the large batch (default verilator)")
    d.add_argument("--verilog-batch", type=int,
                   help="digits: images through the Verilog simulator, at most the test set's 449 "
                        "(default 0: the whole test set)")
    d.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="digits: run the Verilog batch's chunks of images on a Dask cluster, tcp://HOST:8786 or "
                        "local:N (default $ADDERHW_SCHEDULER, else here, one chunk after another)")
    _train_option(d, "digits: ")
    d.set_defaults(func=cmd_demo)


def _add_verilog_parser(sub):
    """``adderhw verilog`` and its options."""
    v = sub.add_parser("verilog", help="write the array as Verilog")
    _add_array_args(v)
    v.add_argument("-o", "--output", required=True, help="output .v file")
    v.add_argument("--name", default="adder_array", help="top module name (default adder_array)")
    _add_target_arg(v)
    v.set_defaults(func=cmd_verilog)


def _add_simulate_parser(sub):
    """``adderhw simulate`` and its options."""
    s = sub.add_parser("simulate", help="run a GEMM on the array in a simulator, check it against golden")
    s.add_argument("--sim", choices=["amaranth", "icarus", "verilator"], default="amaranth",
                   help="simulator (default amaranth)")
    _add_array_args(s, k_max=False)
    s.add_argument("--k-max", type=int, default=None, help="array k_max (default: K)")
    s.add_argument("--t", type=int, help=f"T, rows of A (default {SIM_SHAPE['t']})")
    s.add_argument("--k", type=int, help=f"K, the reduction length (default {SIM_SHAPE['k']})")
    s.add_argument("--p", type=int, help=f"P, columns of B (default {SIM_SHAPE['p']})")
    s.add_argument("--a", help="A as a .npy file of integers (T x K), instead of random values; T and K come "
                               "from its shape")
    s.add_argument("--b", help="B as a .npy file of integers (K x P)")
    s.add_argument("--seed", type=_seed, default=0, help="seed of operands and stalls (default 0)")
    s.add_argument("--stall-prob", type=float, default=0.0, help="random valid/ready stall probability (default 0)")
    s.add_argument("--driver", choices=["harness", "cocotb"], default=None,
                   help="icarus and verilator only: HDL stream harness (fast, the default) or Python driver "
                        "per cycle")
    s.add_argument("--waves", help="write a waveform file; the name chooses the format: .vcd (every simulator) "
                                   "or .fst (icarus, verilator)")
    s.add_argument("--json", help="also write the report as JSON to this file")
    _add_target_arg(s)
    s.set_defaults(func=cmd_simulate)


def _add_compare_parser(sub):
    """``adderhw compare`` and its options."""
    c = sub.add_parser("compare", help="AdderNet on the SAD array vs the CNN on the MAC twin: ops, cycles, energy")
    c.add_argument("--network", default="resnet20",
                   help="lenet5, resnet20, resnet32, vggsmall, or a network .json file (default resnet20)")
    c.add_argument("--rows", type=int, default=8, help="array rows (default 8)")
    c.add_argument("--cols", type=int, default=8, help="array columns (default 8)")
    c.add_argument("--width", type=int, default=8, help="operand width (default 8)")
    c.add_argument("--batch", type=int, default=1, help="batch size (default 1)")
    c.add_argument("--sad-rows", type=int, help="SAD array rows if different (iso-area comparisons)")
    c.add_argument("--sad-cols", type=int, help="SAD array columns if different")
    c.add_argument("--sad-report", help="report.json of an adderhw build of the SAD array (adds Fmax and time)")
    c.add_argument("--mac-report", help="report.json of an adderhw build of the MAC array")
    _out_option(c, "compare")
    c.set_defaults(func=cmd_compare)


def _add_build_parser(sub):
    """``adderhw build`` and its options."""
    bd = sub.add_parser("build", help="synthesise the array for an FPGA board; report resources and Fmax")
    bd.add_argument("--board", required=True, help="icebreaker, hx8k, ulx3s-85f or orangecrab-25f")
    _add_array_args(bd)
    bd.add_argument("--freq", type=float, default=None, help=f"target clock in MHz (default {family_mhz(BUILD_TARGET_MHZ)})")
    bd.add_argument("--dsp", action=argparse.BooleanOptionalAction, default=None,
                    help="MAC only: map multipliers to DSP blocks (default yes)")
    bd.add_argument("--seed", default="1",
                    help="nextpnr placement seed (default 1); --top engine: a comma-separated list is tried in turn "
                         "until a build places and meets timing, each in <out>/seed-<n>")
    bd.add_argument("--time-limit", type=float, default=None, metavar="MINUTES",
                    help="--top engine: stop a build still running after this many minutes and count it as not "
                         "placed (default 20 on the iCE40, 60 on the ECP5; 0: no limit)")
    bd.add_argument("--out", required=True, help="build directory; report.json is written there")
    bd.add_argument("--top", default="array", help="array (the benchmark harness, default) or engine (the layer "
                                                   "engine behind a UART link: a bitstream to flash)")
    bd.add_argument("--network", default=NETWORKS[0], help=f"--top engine: {' or '.join(NETWORKS)} (sizes the memories)")
    _program_options(bd, data=False, prefix="--top engine: ")
    bd.add_argument("--mac-rows", type=int, default=2, help="--top engine, AdderNet: MAC array rows (default 2)")
    bd.add_argument("--first-last", default=None, choices=("mul", "adder"),
                    help="--top engine, AdderNet: first and last layers as multiplier (default) or adder layers")
    bd.add_argument("--requant", default=None, choices=("mul", "shift"),
                    help="--top engine, AdderNet: requantise with a multiplier (default) or with shifts and adds")
    bd.add_argument("--shift-terms", type=int, default=2, choices=(1, 2),
                    help="--top engine with --requant shift: powers of two per M (default 2)")
    bd.add_argument("--post-lanes", type=int, default=DEFAULT_POST_LANES, help="--top engine: " + POST_LANES_HELP)
    bd.add_argument("--breakdown", action="store_true",
                    help="--top engine: keep the design's hierarchy and report its resources per block (arrays, "
                         "im2col, post-processing, sequencer, memories, link and UART, clocking and I/O)")
    bd.add_argument("--clock-mhz", default=None,
                    help="--top engine: run through the board's PLL at the highest clock it makes not above this "
                         "many MHz (default: the oscillator, 12 MHz on the iCEBreaker, 25 MHz on the ULX3S); auto: "
                         "build at the oscillator, then again through the PLL at that build's Fmax less "
                         "--pll-margin, and report both")
    bd.add_argument("--pll-margin", type=float, default=None,
                    help="--clock-mhz auto: how far below the first build's Fmax the PLL is set, in percent "
                         "(default 10)")
    _nextpnr_options(bd, "--top engine: ")
    bd.add_argument("--baud", type=int, default=None,
                    help="--top engine: UART rate (default 115200 at the oscillator; with --clock-mhz the fastest "
                         "rate that the board's USB bridge and the clock both make exactly)")
    bd.set_defaults(func=cmd_build, runs_builds=True)


def _add_sweep_parser(sub):
    """``adderhw sweep`` and its options."""
    sw = sub.add_parser("sweep", help="largest SAD and MAC arrays that fit a device and meet a clock")
    sw.add_argument("--board", required=True, help="icebreaker, hx8k, ulx3s-85f or orangecrab-25f")
    sw.add_argument("--pe", default="sad,mac", help="kinds to sweep: sad,mac (mac sweeps with and without DSPs; "
                                                    "mac+lut or mac+dsp sweeps one of them)")
    sw.add_argument("--width", type=int, default=8, help="operand width (default 8)")
    sw.add_argument("--k-max", type=int, default=144, help="k_max of the arrays (default 144)")
    _add_sad_stage_arg(sw)
    _add_skew_arg(sw)
    sw.add_argument("--freq", type=float, default=None, help=f"target clock in MHz (default {family_mhz(SWEEP_TARGET_MHZ)})")
    _add_executor_args(sw, "builds")
    sw.add_argument("--seed", type=_seed, default=1, help="nextpnr seed (default 1)")
    sw.add_argument("--max-pes", type=int, default=None,
                    help="largest array to try, in PEs (default: from the device's logic capacity)")
    sw.add_argument("--start-pes", type=int, default=None,
                    help="start each kind's search at the largest candidate of at most this many PEs (an "
                         "earlier answer, say) instead of spreading the first probes over the whole range; "
                         "that probe is built and judged like any other")
    sw.add_argument("--build-dir", default="build/sweep",
                    help="where the builds go (default build/sweep); finished builds there are reused, so an "
                         "interrupted sweep resumes")
    sw.add_argument("--bound", choices=["clock", "area"], default="clock",
                    help="clock: the largest arrays that meet --freq (default); area: the largest that place and "
                         "route at any clock, with throughput at their own Fmax (builds are shared with clock)")
    sw.add_argument("--out", help="directory for sweep_BOARD.json, .md and .png (sweep_BOARD_area.* with "
                                  "--bound area)")
    sw.set_defaults(func=cmd_sweep, runs_builds=True)


def _add_regress_parser(sub):
    """``adderhw regress`` and its options."""
    rg = sub.add_parser("regress", help="many random GEMM cases through a simulator against golden and the cycle "
                                         "model, on local processes or a Dask cluster")
    rg.add_argument("--cases", type=_positive_int, default=40, help="random cases (default 40)")
    rg.add_argument("--sim", choices=["amaranth", "icarus", "verilator"], default="amaranth",
                    help="simulator (default amaranth)")
    rg.add_argument("--seed", type=_seed, default=0, help="seed of the cases (default 0)")
    _add_executor_args(rg, "cases")
    _out_option(rg, "regress", png=False)
    _add_mutate_arg(rg, "the cases")
    rg.set_defaults(func=cmd_regress)


def _add_prove_parser(sub):
    """``adderhw prove`` and its options."""
    pv = sub.add_parser("prove", help="prove the array's promises (stream rules, no overflow, conservation, progress, "
                                      "equivalence) with SymbiYosys and Yices; PASS, FAIL or UNKNOWN per property")
    pv.add_argument("--rows", type=int, default=2, help="array rows R (default 2)")
    pv.add_argument("--cols", type=int, default=2, help="array columns C (default 2)")
    pv.add_argument("--width", type=int, default=4, help="operand width in bits, 2 to 16 (default 4)")
    pv.add_argument("--k-max", type=int, default=3, help="largest reduction length K (default 3)")
    _pe_option(pv)
    pv.add_argument("--mul-stages", type=int, default=None, help="MAC only: multiplier pipeline stages 1-3")
    _add_dataflow_arg(pv)
    pv.add_argument("--depth", type=int, default=None,
                    help="basecase cycles and longest induction (default: the latest PE's arrival, R + C - 2 "
                         "systolic or 1 broadcast, + PE latency + 10)")
    pv.add_argument("--properties", default=None,
                    help="comma-separated subset of stream, join, no-overflow, conservation, equivalence, "
                         "progress (default all)")
    pv.add_argument("--cover", action=argparse.BooleanOptionalAction, default=True,
                    help="also reach the cover statements (default yes)")
    pv.add_argument("--out", default="out/prove",
                    help="work directory; counterexample VCDs go here (default out/prove)")
    _add_mutate_arg(pv, "the proofs")
    pv.set_defaults(func=cmd_prove)


def _add_engine_parser(sub):
    """``adderhw engine`` and its options."""
    en = sub.add_parser("engine", help="a trained network through the on-chip layer engine's Verilog, image in, "
                                       "class out, bit-exact per layer")
    en.add_argument("--network", default="digits", help="digits or mnist (default digits); for mnist, "
                    "--rows 16 --cols 24 --mac-rows 2 is about the size of spinalAdderNetMNIST (442 PEs)")
    _pe_option(en)
    en.add_argument("--rows", type=int, default=8, help="array rows (default 8)")
    en.add_argument("--cols", type=int, default=8, help="array columns = images per batch (default 8)")
    en.add_argument("--width", type=int, default=8, help="operand width (default 8)")
    en.add_argument("--mac-rows", type=int, default=2,
                    help="AdderNet only: rows of the MAC array for the multiplier layers (default 2)")
    en.add_argument("--sim", default="verilator", help="verilator, icarus or amaranth (default verilator)")
    en.add_argument("--images", type=int, default=0, help="test images to run (default 0: the whole test set)")
    en.add_argument("--epochs", type=int, default=0, help="training epochs (default 0: the network's, " + _epochs_words() + ")")
    en.add_argument("--seed", type=int, default=0, help="data split and training seed (default 0)")
    _out_option(en, "engine", "out/engine")
    en.add_argument("--quant", default="ptq", choices=("ptq", "qat", "qat-group"),
                    help="AdderNet: post-training quantisation (ptq, default), quantisation-aware fine-tuning (qat), "
                         "or QAT with one scale per --group output channels, run with the per-tile input shift "
                         "(qat-group)")
    en.add_argument("--group", type=int, default=0,
                    help="with --quant qat-group: output channels per scale, a multiple of --rows (default: --rows)")
    en.add_argument("--qat-epochs", type=int, default=QAT_EPOCHS,
                    help=f"with --quant qat*: fine-tuning epochs (default {QAT_EPOCHS})")
    _multiplier_options(en)
    _add_dataflow_arg(en, "the engine's arrays: ")
    _program_options(en)
    _train_option(en)
    en.set_defaults(func=cmd_engine)


def _add_quantise_parser(sub):
    """``adderhw quantise`` and its options."""
    qz = sub.add_parser("quantise", help="test accuracy against width for PTQ, QAT and the CNN twin, mean and "
                                         "range over seeds (digits and MNIST)")
    qz.add_argument("--networks", default="digits,mnist", help="comma-separated: digits, mnist (default both)")
    qz.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0,1,2,3,4)")
    qz.add_argument("--mnist-seeds", default=None, help="comma-separated seeds for MNIST (default: --seeds)")
    qz.add_argument("--widths", default="3,4,5,6,8,12", help="comma-separated widths (default 3,4,5,6,8,12)")
    _study_epochs_options(qz)
    qz.add_argument("--group", type=int, default=8, help="output channels per scale for QAT with per-group scales "
                                                         "(default 8, the array's rows)")
    qz.add_argument("--rtl-widths", default=None,
                    help="also run the QAT digits AdderNet through the Verilog SAD array at these comma-separated "
                         "widths, bit-exact against golden (for example 4,6)")
    qz.add_argument("--rtl-seed", type=int, default=None, help="the seed of that run (default: the first of --seeds)")
    qz.add_argument("--rtl-backend", default="verilator", help="verilator, icarus or amaranth (default verilator)")
    qz.add_argument("--rtl-images", type=int, default=0, help="test images through the RTL (default 0: all)")
    _out_option(qz, "quantise", "out/quantise", more=" (and quantise.partial.json, which an interrupted run resumes from)")
    _train_option(qz, "the float networks: ")
    qz.set_defaults(func=cmd_quantise)


def _add_compile_parser(sub):
    """``adderhw compile`` and its options."""
    co = sub.add_parser("compile", help="import a PyTorch model (torch.fx), quantise it on your data and write a "
                                         "program file for engine, build --top engine and run (--program)")
    co.add_argument("model", help="file.py[:NAME] (NAME default 'model': a module, or a class or function making one) "
                                  "or a module saved with torch.save (.pt/.pth; trusted files only)")
    co.add_argument("--weights", default=None, help="a state_dict to load: .pt/.pth (torch.save(model.state_dict())) "
                                                    "or .npz")
    co.add_argument("--calib", required=True, help="calibration images: .npz with x (N, C, H, W floats) and y "
                                                   "(labels: needed by --quant qat, and for the accuracy), or .npy")
    co.add_argument("--width", type=int, default=8, help="bits of activations and weights (default 8)")
    co.add_argument("--quant", default="ptq", help="ptq (post-training, default) or qat (fine-tunes the adder layers "
                                                   "at the PTQ scales; needs labels)")
    co.add_argument("--requant", default="mul", help="mul (an integer multiplier per channel, default) or shift "
                                                     "(sums of powers of two: no multiplier in the post-processing)")
    co.add_argument("--shift-terms", type=int, default=2, choices=(1, 2), help="with --requant shift: powers of two "
                                                                              "per scale (default 2)")
    co.add_argument("--calib-images", type=_positive_int, default=512,
                    help="images that choose the scales (default 512)")
    co.add_argument("--qat-epochs", type=_positive_int, default=4, help="with --quant qat: epochs (default 4)")
    co.add_argument("--seed", type=int, default=0, help="QAT's seed (default 0)")
    co.add_argument("--name", default=None, help="the program's name (default the model's class name)")
    co.add_argument("-o", "--output", required=True, help="the program file to write (.npz)")
    co.set_defaults(func=cmd_compile)


def _add_run_parser(sub):
    """``adderhw run`` and its options."""
    rn = sub.add_parser("run", help="a trained network on a board through the UART host link (or --port sim: "
                                     "the simulated board), every answer checked against the golden program")
    rn.add_argument("--port", default="sim", help="serial port of the board, e.g. /dev/ttyUSB1, or sim (default sim)")
    rn.add_argument("--baud", type=int, default=None, help="UART rate the board was built for (default: with --board "
                    "the board top's, else 115200)")
    rn.add_argument("--board", default=None, help="the board top the engine was built for (icebreaker, ulx3s-85f): "
                    "its clock and baud, on the serial port or, with --port sim, in the simulated top")
    rn.add_argument("--clock-mhz", type=float, default=None, help="with --board: the PLL clock the board was built "
                    "for (adderhw build --clock-mhz); default: the oscillator")
    rn.add_argument("--network", default=NETWORKS[0], help=f"{' or '.join(NETWORKS)} (default {NETWORKS[0]})")
    _pe_option(rn)
    rn.add_argument("--rows", type=int, default=8, help="array rows of the board's engine (default 8)")
    rn.add_argument("--cols", type=int, default=8, help="array columns = images per batch (default 8)")
    rn.add_argument("--width", type=int, default=8, help="operand width (default 8)")
    rn.add_argument("--mac-rows", type=int, default=2, help="AdderNet only: MAC array rows (default 2)")
    rn.add_argument("--images", type=int, default=50, help="test images to send (default 50)")
    rn.add_argument("--seed", type=int, default=0, help="data split and training seed (default 0)")
    rn.add_argument("--out", default=None, help="directory for run.json and run.md (default: none)")
    _multiplier_options(rn)
    _add_dataflow_arg(rn, "the board engine's arrays: ")
    _program_options(rn)
    _train_option(rn)
    rn.set_defaults(func=cmd_run)


def _add_train_parser(sub):
    """``adderhw train`` and its options."""
    tr = sub.add_parser("train", help="train a network (AdderNet or CNN twin) deterministically and write its "
                                      "weights file (.npz), as committed in docs/results/weights")
    tr.add_argument("--network", default=NETWORKS[0], help=f"{' or '.join(NETWORKS)} (default {NETWORKS[0]})")
    _pe_option(tr)
    tr.add_argument("--seed", type=_seed, default=0, help="data split and training seed (default 0)")
    tr.add_argument("--epochs", type=int, default=0, help="training epochs (default 0: the network's, " + _epochs_words() + ")")
    tr.add_argument("--first-last", default="mul", choices=("mul", "adder"),
                    help="AdderNet: first and last layers as multiplier (default) or adder layers (all-adder)")
    tr.add_argument("--out", default="out/weights", help="directory for <name>.npz (default out/weights)")
    tr.set_defaults(func=cmd_train)


def _add_compare_boards_parser(sub):
    """``adderhw compare-boards`` and its options."""
    cb = sub.add_parser("compare-boards", help="the whole AdderNet accelerator against its CNN twin, built for "
                                                "the boards: logic, FF, DSP, BRAM, Fmax, images/s")
    cb.add_argument("--network", default=NETWORKS[0], help=f"{' or '.join(NETWORKS)} (default {NETWORKS[0]})")
    cb.add_argument("--sizes", default="icebreaker:1x1+1,ulx3s-85f:8x8+2",
                    help="board:RxC[+M] items, M the AdderNet engine's MAC rows (default icebreaker:1x1+1,ulx3s-85f:8x8+2)")
    cb.add_argument("--mac-rows", type=int, default=2, help="MAC array rows where --sizes gives no +M (default 2)")
    cb.add_argument("--seed", type=_seed, default=1, help="nextpnr seed (default 1)")
    cb.add_argument("--largest", action="store_true",
                    help="instead of equal arrays: search the largest array of each kind that places and routes "
                         "on each board, growing from the --sizes shape (twice the PEs per probe), then refining "
                         "between the last that fit and the first that did not (--fine)")
    cb.add_argument("--first-last", default="mul", choices=("mul", "adder"),
                    help="the AdderNet engine's first and last layers: mul (default) or adder (all-adder, no MAC array)")
    cb.add_argument("--requant", default="mul", choices=("mul", "shift"),
                    help="the AdderNet engine's requantisation: mul (default) or shift (no multiplier in the "
                         "post-processing); the CNN twin keeps its multipliers")
    cb.add_argument("--breakdown", action="store_true",
                    help="hierarchical builds, and the logic per block (arrays, im2col, post-processing, sequencer, "
                         "memories, link and UART, clocking and I/O) as a table and stacked bars (not with --largest)")
    cb.add_argument("--dsp", default=None, choices=("both", "yes", "no"),
                    help="DSP settings per pair (default: both on iCE40, yes on ECP5)")
    cb.add_argument("--max-pes", type=int, default=512, help="with --largest: the largest array probed (default 512)")
    cb.add_argument("--post-lanes", type=int, default=0,
                    help="both engines' post-processing lanes L, a divisor of every size's columns (with --largest "
                         "0 or 1, which divide every probe's); default 0, one lane per column, as the committed "
                         "comparisons were made (the engine flows' default is 1)")
    _add_dataflow_arg(cb, "both engines' arrays: ")
    cb.add_argument("--fine", action=argparse.BooleanOptionalAction, default=None,
                    help="with --largest: after the doubling, search the arrays between the largest that fit and "
                         "the smallest that did not, of any rows and columns (default: yes; --no-fine: doubling only)")
    cb.add_argument("--max-fine-probes", type=int, default=None,
                    help="with --largest: at most this many builds in the fine stage, per kind and board (default 6)")
    cb.add_argument("--aspect", type=int, default=None,
                    help="with --largest: the fine stage's arrays have neither side more than this many times the "
                         "other (default 2; 4 reaches an 8x2 engine)")
    _nextpnr_options(cb, "")
    _engine_build_dir_option(cb)
    _out_option(cb, "compare_boards", "out/compare_boards")
    cb.set_defaults(func=cmd_compare_boards, runs_builds=True)


def _add_bench_golden_parser(bsub):
    """``adderhw bench golden`` and its options."""
    bg = bsub.add_parser("golden", help="golden model and PyTorch reference vs conv2d on ResNet-20 layers")
    bg.add_argument("--repeats", type=_positive_int, default=7, help="timed rounds, best is kept (default 7)")
    _out_option(bg, "bench_golden", png=False)
    bg.set_defaults(func=cmd_bench_golden)


def _add_bench_accuracy_parser(bsub):
    """``adderhw bench accuracy`` and its options."""
    ba = bsub.add_parser("accuracy", help="engine program accuracy of all-adder networks and shift-only "
                                          "requantisation against the paper-style network, over seeds")
    ba.add_argument("--networks", default="digits,mnist", help="comma-separated: digits, mnist (default both)")
    ba.add_argument("--seeds", default="0,1,2,3,4", help="comma-separated seeds (default 0,1,2,3,4)")
    ba.add_argument("--widths", default="8,6,4", help="comma-separated program widths (default 8,6,4)")
    ba.add_argument("--first-last", default="mul,adder", help="comma-separated first/last layer kinds: mul (the "
                    "paper's multiplier conv1 and classifier), adder (all-adder) (default both)")
    ba.add_argument("--requants", default="mul,shift2,shift1", help="comma-separated requantisations: mul, "
                    "shift2 (M = two signed powers of two), shift1 (one) (default all three)")
    ba.add_argument("--quants", default="ptq,qat,qat-group", help="comma-separated quantisations: ptq, qat, "
                    "qat-group (QAT with per-group scales) (default all three)")
    ba.add_argument("--group", type=int, default=8, help="qat-group: output channels per scale (default 8)")
    _study_epochs_options(ba)
    _out_option(ba, "bench_accuracy", "out/bench_accuracy",
                more=" (and bench_accuracy.partial.json, which an interrupted run resumes from)")
    ba.set_defaults(func=cmd_bench_accuracy)


def _add_bench_lanes_parser(bsub):
    """``adderhw bench lanes`` and its options."""
    bl = bsub.add_parser("lanes", help="the engine's post-processing lanes L against cells and cycles: one build per "
                                       "L, the baseline L = C in the same run")
    bl.add_argument("--board", default="icebreaker", help="icebreaker (default) or ulx3s-85f")
    bl.add_argument("--rows", type=int, default=2, help="array rows (default 2)")
    bl.add_argument("--cols", type=int, default=4, help="array columns C (default 4)")
    bl.add_argument("--lanes", default=None, help="comma-separated L to build, divisors of --cols (default: all "
                    "of them); L = C is always built as the baseline")
    bl.add_argument("--network", default="digits", help="digits (default) or mnist: the program whose memories and "
                    "cycles count")
    _multiplier_free_options(bl)
    bl.add_argument("--mac-rows", type=int, default=2, help="MAC array rows with --first-last mul (default 2)")
    bl.add_argument("--seed", type=_seed, default=1, help="nextpnr seed (default 1)")
    _engine_build_dir_option(bl)
    _out_option(bl, "bench_lanes", "out/bench_lanes")
    bl.set_defaults(func=cmd_bench_lanes)


def _add_bench_engine_fmax_parser(bsub):
    """``adderhw bench engine-fmax`` and its options."""
    be = bsub.add_parser("engine-fmax", help="the engine's Fmax against its bare array's, over nextpnr seeds, both "
                                            "built in the same run")
    be.add_argument("--board", default="ulx3s-85f", help="ulx3s-85f (default) or icebreaker")
    be.add_argument("--rows", type=int, default=8, help="array rows (default 8)")
    be.add_argument("--cols", type=int, default=8, help="array columns (default 8)")
    be.add_argument("--network", default="digits", help="digits (default) or mnist: the program that sizes the engine")
    be.add_argument("--seeds", default="1,2,3", help="comma-separated nextpnr seeds (default 1,2,3)")
    _multiplier_free_options(be)
    be.add_argument("--post-lanes", type=int, default=DEFAULT_POST_LANES, help=POST_LANES_HELP)
    _add_dataflow_arg(be, "the engine's array and the bare array: ")
    _engine_build_dir_option(be)
    _out_option(be, "bench_engine_fmax", "out/bench_engine_fmax", png=False)
    be.set_defaults(func=cmd_bench_engine_fmax)


def _add_bench_compile_parser(bsub):
    """``adderhw bench compile`` and its options."""
    bc = bsub.add_parser("compile", help="seconds to import, quantise (PTQ) and compile a ResNet-20 with adder "
                                         "layers, cold and warm, against one float forward pass")
    bc.add_argument("--depth", type=int, default=20, help="ResNet depth, 6n + 2 (default 20)")
    bc.add_argument("--images", type=int, default=64, help="calibration images (default 64)")
    bc.add_argument("--repeats", type=int, default=3, help="fresh processes per cache state (default 3)")
    _out_option(bc, "bench_compile", "out/bench_compile", png=False)
    bc.set_defaults(func=cmd_bench_compile)


def _add_bench_sim_parser(bsub):
    """``adderhw bench sim`` and its options."""
    bs = bsub.add_parser("sim", help="simulated cycles per second of an 8x8 array on each simulator")
    bs.add_argument("--width", type=int, default=8, help="operand width (default 8)")
    _pe_option(bs)
    _out_option(bs, "bench_sim", png=False)
    bs.set_defaults(func=cmd_bench_sim)


def _add_bench_pe_parser(bsub):
    """``adderhw bench pe`` and its options."""
    bp = bsub.add_parser("pe", help="LUTs, FFs and Fmax per SAD and MAC PE on iCE40 and ECP5 (the headline table)")
    bp.add_argument("--boards", default="icebreaker,ulx3s-85f", help="comma-separated boards")
    bp.add_argument("--sizes", default="1,2,4", help="N of the N x N arrays to fit (default 1,2,4)")
    _add_board_bench_args(bp, "bench_pe")
    bp.add_argument("--widths", default=None, help="instead of --width: comma-separated widths (for example 4,6,8), "
                                                   "one run each and a table of the SAD/MAC ratio against width")
    bp.add_argument("--baseline", help="check the result against a baseline file "
                                       "(tests/boards/baselines/bench_pe.json); exit 1 on a violation")
    bp.set_defaults(func=cmd_bench_pe, runs_builds=True)


def _add_bench_fmax_parser(bsub):
    """``adderhw bench fmax`` and its options."""
    bf = bsub.add_parser("fmax", help="Fmax against array size (N x N), several nextpnr seeds, before/after plot")
    bf.add_argument("--boards", default="ulx3s-85f,icebreaker", help="comma-separated boards")
    bf.add_argument("--pe", default="sad,mac", help="kinds: sad,mac (mac builds with and without DSPs)")
    bf.add_argument("--sizes", default=None,
                    help="N of the N x N arrays (default 4,8,16,24 on ECP5, 2,4,6 on iCE40; sizes that cannot "
                         "fit are skipped)")
    bf.add_argument("--seeds", default="1,2,3", help="nextpnr seeds per point (default 1,2,3)")
    _add_sad_stage_arg(bf)
    _add_skew_arg(bf)
    _add_board_bench_args(bf, "bench_fmax")
    bf.set_defaults(func=cmd_bench_fmax, runs_builds=True)


def _add_bench_parser(sub):
    """``adderhw bench`` and its benchmarks, one subcommand each."""
    b = sub.add_parser("bench", help="benchmarks that print ratios against a baseline measured in the same run")
    bsub = b.add_subparsers(dest="bench", required=True, metavar="WHAT")
    _add_bench_golden_parser(bsub)
    _add_bench_accuracy_parser(bsub)
    _add_bench_lanes_parser(bsub)
    _add_bench_engine_fmax_parser(bsub)
    _add_bench_compile_parser(bsub)
    _add_bench_sim_parser(bsub)
    _add_bench_pe_parser(bsub)
    _add_bench_fmax_parser(bsub)


#: the functions that add each command's parser, in the order ``adderhw --help`` lists the commands
_COMMAND_PARSERS = (_add_demo_parser, _add_verilog_parser, _add_simulate_parser, _add_compare_parser,
                    _add_build_parser, _add_sweep_parser, _add_regress_parser, _add_prove_parser, _add_engine_parser,
                    _add_quantise_parser, _add_compile_parser, _add_run_parser, _add_train_parser,
                    _add_compare_boards_parser, _add_bench_parser)


def build_parser():
    p = argparse.ArgumentParser(
        prog="adderhw",
        description="Generate, simulate and compare AdderNet (SAD) hardware against its multiplier (MAC) twin.")
    p.add_argument("--version", action="version", version=f"adderhw {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in _COMMAND_PARSERS:
        add_parser(sub)
    return p


def _dispatch(args):
    """Run the command. A command that runs board builds (``runs_builds``) forwards SIGTERM and
    SIGINT to them: the builds run in process groups of their own (boards.build_process), which
    killing adderhw alone would leave running."""
    if not getattr(args, "runs_builds", False):
        return args.func(args)
    with stopping_builds():
        return args.func(args)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else list(argv)      # the command as typed, for provenance
    try:
        return _dispatch(args)
    except AdderhwError as exc:
        _say(f"adderhw {args.command}: error: {exc}")
        return 2
    except Stopped as exc:
        _say(f"adderhw {args.command}: {exc}")
        return 128 + exc.signum
    except KeyboardInterrupt:
        _say("adderhw: interrupted")
        return 130
