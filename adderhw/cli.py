"""``adderhw`` command line: parses, dispatches, and turns bad input into one sentence and exit 2.

Each subcommand's work lives in the package it belongs to; this module only wires arguments.
"""
import argparse
import json
import os
import sys
from pathlib import Path

from golden.errors import AdderhwError

__all__ = ["main"]


def _say(msg):
    print(msg, file=sys.stderr, flush=True)


def _write_reports(out_dir, stem, data, markdown):
    if out_dir is None:
        return
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2) + "\n")
    (out / f"{stem}.md").write_text(markdown + "\n")
    _say(f"wrote {out / (stem + '.json')} and {out / (stem + '.md')}")


# ---------------------------------------------------------------- demo
def cmd_demo(args):
    from sim.demo import run_demo
    text, ok = run_demo(out_dir=args.out, seed=args.seed)
    print(text)
    return 0 if ok else 1


# ---------------------------------------------------------------- bench
def cmd_bench_golden(args):
    from golden.bench import format_table, run_bench
    result = run_bench(repeats=args.repeats, progress=_say)
    table = format_table(result)
    print(table)
    _write_reports(args.out, "bench_golden", result, table)
    return 0


# ---------------------------------------------------------------- verilog
def _config_from(args, **extra):
    from golden.config import ArrayConfig
    fields = dict(rows=args.rows, cols=args.cols, width=args.width, k_max=args.k_max, pe=args.pe)
    if getattr(args, "mul_stages", None) is not None:
        fields["mul_stages"] = args.mul_stages
    fields.update(extra)
    return ArrayConfig(**fields)


def cmd_verilog(args):
    from hw.verilog import generate_verilog, port_summary
    cfg = _config_from(args)
    text = generate_verilog(cfg, name=args.name)
    out = Path(args.output)
    if out.parent and not out.parent.exists():
        raise AdderhwError(f"-o/--output names {str(out)!r}, whose directory does not exist")
    out.write_text(text)
    ports = ", ".join(f"{n}[{w}]" if w > 1 else n for n, _, w in port_summary(cfg))
    sign = "signed" if cfg.acc_signed else "unsigned"
    print(f"{out}: module {args.name}, {cfg.rows}x{cfg.cols} {cfg.pe.upper()}, {cfg.width}-bit operands; "
          f"accumulator {cfg.acc_width} bits {sign}; PE latency {cfg.pe_stages} cycles; ports: {ports}")
    return 0


def _add_array_args(p, *, k_max=True):
    p.add_argument("--rows", type=int, default=8, help="array rows R (default 8)")
    p.add_argument("--cols", type=int, default=8, help="array columns C (default 8)")
    p.add_argument("--width", type=int, default=8, help="operand width in bits, 2 to 16 (default 8)")
    if k_max:
        p.add_argument("--k-max", type=int, default=1152, help="largest reduction length K (default 1152)")
    p.add_argument("--pe", default="sad", help="processing element: sad or mac (default sad)")
    p.add_argument("--mul-stages", type=int, default=None, help="MAC only: multiplier pipeline stages 1-3")


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer, not {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {v}")
    return v


def build_parser():
    p = argparse.ArgumentParser(
        prog="adderhw",
        description="Generate, simulate and compare AdderNet (SAD) hardware against its multiplier (MAC) twin.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    d = sub.add_parser("demo", help="golden vs PyTorch reference, Verilog of the default array, a bit-exact RTL run")
    d.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    d.add_argument("--out", default="out/demo", help="directory for generated files (default out/demo)")
    d.set_defaults(func=cmd_demo)

    v = sub.add_parser("verilog", help="write the array as Verilog")
    _add_array_args(v)
    v.add_argument("-o", "--output", required=True, help="output .v file")
    v.add_argument("--name", default="adder_array", help="top module name (default adder_array)")
    v.set_defaults(func=cmd_verilog)

    b = sub.add_parser("bench", help="benchmarks that print ratios against a baseline measured in the same run")
    bsub = b.add_subparsers(dest="bench", required=True, metavar="WHAT")
    bg = bsub.add_parser("golden", help="golden model and PyTorch reference vs conv2d on ResNet-20 layers")
    bg.add_argument("--repeats", type=_positive_int, default=5, help="timed repeats, best is kept (default 5)")
    bg.add_argument("--out", help="directory for bench_golden.json and bench_golden.md")
    bg.set_defaults(func=cmd_bench_golden)
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except AdderhwError as exc:
        _say(f"adderhw {args.command}: error: {exc}")
        return 2
    except KeyboardInterrupt:
        _say("adderhw: interrupted")
        return 130
