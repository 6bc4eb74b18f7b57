"""``adderhw bench accuracy``: what the engine's programs score, by how multiplier-free they are.

For each network (digits, MNIST), seed, first/last-layer kind (``mul``: the paper's multiplier
conv1 and classifier; ``adder``: all-adder, golden.addernet.FIRST_LAST), quantisation (``ptq``:
post-training, calibrated on 512 training images; ``qat``: golden.qat's calibrated scales and
quantisation-aware fine-tuning, seeded; ``qat-group``: the same with one scale per ``group``
output channels, which the engine runs with its per-tile input shift), requantisation (``mul``:
any integer M; ``shift1``/``shift2``: M fitted to one or two signed powers of two,
adderhw.base.requant) and width, the trained float model (adderhw.golden.trained: committed weights, the
cache or a training) is compiled (golden.compiler) and its program run on the whole test set by
the golden program model, which the engine's RTL equals bit for bit (tests/hw/test_engine.py,
tests/sim/test_engine_random.py, adderhw engine).

The baseline is measured in the same run: the paper-style network, post-training quantised, with
multiplier requantisation (``mul``/``ptq``/``mul``) at the same width and seeds; the report gives
every variant's mean, min and max accuracy over the seeds and its difference of means from that
baseline.

Each (network, seed, first/last) result is written to ``bench_accuracy.partial.json`` as it
finishes; a rerun reuses the ones whose settings match.
"""
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from adderhw.base.errors import BadParameter
from adderhw.base.networks import QAT_EPOCHS, STUDY_EPOCHS
from adderhw.base.tables import markdown_table, pyplot, write_reports
from adderhw.base.validate import check_int
from adderhw.golden.addernet import FIRST_LAST
from adderhw.golden.compiler import compile_model, quantize_images
from adderhw.golden.network_program import QUANTS
from adderhw.golden.program import run_program
from adderhw.golden.trained import NETWORK_EPOCHS, trained_network

__all__ = ["AccuracyBenchConfig", "run_accuracy_bench", "format_accuracy_bench", "REQUANTS"]

#: requantisations: name -> (compiler requant, shift_terms)
REQUANTS = {"mul": ("mul", 2), "shift2": ("shift", 2), "shift1": ("shift", 1)}


@dataclass
class AccuracyBenchConfig:
    networks: tuple = ("digits", "mnist")
    seeds: tuple = (0, 1, 2, 3, 4)
    widths: tuple = (8, 6, 4)
    first_last: tuple = ("mul", "adder")
    requants: tuple = ("mul", "shift2", "shift1")
    quants: tuple = ("ptq", "qat", "qat-group")
    digits_epochs: int = STUDY_EPOCHS["digits"]
    mnist_epochs: int = STUDY_EPOCHS["mnist"]
    calib: int = 512
    group: int = 8
    qat_epochs: int = QAT_EPOCHS

    def __post_init__(self):
        for name, values, allowed in (("networks", self.networks, tuple(NETWORK_EPOCHS)),
                                      ("first_last", self.first_last, FIRST_LAST),
                                      ("requants", self.requants, tuple(REQUANTS)),
                                      ("quants", self.quants, QUANTS)):
            values = tuple(values)
            setattr(self, name, values)
            if not values or any(v not in allowed for v in values):
                raise BadParameter(f"{name} must name one or more of {', '.join(allowed)}, not {', '.join(values) or 'none'}")
        self.seeds = tuple(check_int("seed", s, lo=0) for s in self.seeds)
        self.widths = tuple(check_int("width", w, lo=2, hi=16) for w in self.widths)
        if not self.seeds or not self.widths:
            raise BadParameter("seeds and widths must each hold at least one value")
        for name in ("digits_epochs", "mnist_epochs", "calib", "group", "qat_epochs"):
            setattr(self, name, check_int(name, getattr(self, name), lo=1))


def _one(conf, network, seed, first_last, say):
    from adderhw.golden.qat import calibrate_fracs, copy_model, fine_tune      # torch: deferred (start-up, golden/__init__ docstring)
    epochs = conf.digits_epochs if network == "digits" else conf.mnist_epochs
    net = trained_network(network, True, seed, epochs, first_last=first_last, progress=say)
    calib = net.data.x_train[:conf.calib]
    out = {"float": net.meta["test_accuracy"], "weights": net.record(), "programs": {}, "fracs": {}}
    for quant in conf.quants:
        for w in conf.widths:
            model, fracs = net.model, None
            if quant != "ptq":
                # QAT once per width and scales; every requantisation compiles the same tuned model
                fracs = calibrate_fracs(net.model, calib, w, group=conf.group if quant == "qat-group" else None)
                model = copy_model(net.model)
                fine_tune(model, net.data, w, fracs, epochs=conf.qat_epochs, seed=seed, distort=network == "mnist")
                out["fracs"][f"{quant}/{w}"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in fracs.items()}
            for rq in conf.requants:
                requant, terms = REQUANTS[rq]
                program = compile_model(model, calib, w, f"{network}-{first_last}", requant=requant, shift_terms=terms,
                                        fracs=fracs).program
                classes = run_program(program, quantize_images(program, net.data.x_test)).classes
                out["programs"][f"{quant}/{rq}/{w}"] = float(np.mean(classes == net.data.y_test))
    say(f"  {network} seed {seed}, first/last {first_last}: float {100 * out['float']:.2f} %; "
        + ", ".join(f"{k} {100 * v:.2f}" for k, v in out["programs"].items()))
    return out


def _stats(values):
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max()), "n": int(len(v))}


def run_accuracy_bench(conf=None, out_dir=None, progress=None):
    """The benchmark (module docstring); returns the JSON-ready result and, with ``out_dir``, writes
    bench_accuracy.{json,md,png} there."""
    conf = conf or AccuracyBenchConfig()
    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    partial = Path(out_dir) / "bench_accuracy.partial.json" if out_dir is not None else None
    saved = json.loads(partial.read_text()) if partial is not None and partial.exists() else {}
    key = {"requants": list(conf.requants), "quants": list(conf.quants), "widths": list(conf.widths),
           "calib": conf.calib, "group": conf.group, "qat_epochs": conf.qat_epochs,
           "epochs": {"digits": conf.digits_epochs, "mnist": conf.mnist_epochs}}
    runs = {}
    jobs = [(n, s, fl) for n in conf.networks for fl in conf.first_last for s in conf.seeds]
    for i, (network, seed, fl) in enumerate(jobs):
        tag = f"{network}/{fl}/{seed}"
        if saved.get(tag, {}).get("key") == key:
            runs[tag] = saved[tag]
            continue
        say(f"[{i + 1}/{len(jobs)}] {tag}")
        runs[tag] = dict(_one(conf, network, seed, fl, say), key=key)
        if partial is not None:
            saved[tag] = runs[tag]
            partial.parent.mkdir(parents=True, exist_ok=True)
            partial.write_text(json.dumps(saved))
    summary = {}
    for network in conf.networks:
        has_base = "mul" in conf.first_last and "mul" in conf.requants and "ptq" in conf.quants
        base = {w: _stats([runs[f"{network}/mul/{s}"]["programs"][f"ptq/mul/{w}"] for s in conf.seeds])
                for w in conf.widths} if has_base else None
        for fl in conf.first_last:
            rs = [runs[f"{network}/{fl}/{s}"] for s in conf.seeds]
            row = {"float": _stats([r["float"] for r in rs]), "programs": {}}
            for quant in conf.quants:
                for rq in conf.requants:
                    for w in conf.widths:
                        st = _stats([r["programs"][f"{quant}/{rq}/{w}"] for r in rs])
                        if base is not None:
                            st["vs_baseline"] = st["mean"] - base[w]["mean"]
                        row["programs"][f"{quant}/{rq}/{w}"] = st
            summary[f"{network}/{fl}"] = row
    command = (f"adderhw bench accuracy --networks {','.join(conf.networks)} --seeds {','.join(map(str, conf.seeds))} "
               f"--widths {','.join(map(str, conf.widths))} --first-last {','.join(conf.first_last)} "
               f"--requants {','.join(conf.requants)} --quants {','.join(conf.quants)} --group {conf.group} "
               f"--qat-epochs {conf.qat_epochs} --digits-epochs {conf.digits_epochs} --mnist-epochs {conf.mnist_epochs}")
    result = {"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(conf).items()},
              "command": command, "summary": summary, "runs": runs, "seconds": time.perf_counter() - t0}
    if out_dir is not None:
        write_reports(Path(out_dir), "bench_accuracy", result, format_accuracy_bench(result))
        plot_accuracy_bench(result, Path(out_dir) / "bench_accuracy.png")
    return result


_RQ_LABELS = {"mul": "multiply by M", "shift2": "M = two powers of two", "shift1": "M = one power of two"}
_Q_LABELS = {"ptq": "PTQ", "qat": "QAT", "qat-group": "QAT, per-group scales"}


def format_accuracy_bench(r):
    c = r["config"]
    rows = []
    for tag, row in r["summary"].items():
        network, fl = tag.split("/")
        first = "adder (all-adder)" if fl == "adder" else "multiplier"
        rows.append([network, first, "float", f"{100 * row['float']['mean']:.2f}",
                     f"{100 * row['float']['min']:.2f}–{100 * row['float']['max']:.2f}", ""])
        for key, st in row["programs"].items():
            quant, rq, w = key.split("/")
            delta = st.get("vs_baseline")
            rows.append([network, first, f"{w}-bit program, {_Q_LABELS[quant]}, {_RQ_LABELS[rq]}", f"{100 * st['mean']:.2f}",
                         f"{100 * st['min']:.2f}–{100 * st['max']:.2f}",
                         "" if delta is None else f"{100 * delta:+.2f}"])
    return "\n".join([
        "## Engine program accuracy by multiplier use (golden program = the engine's RTL)", "",
        f"`{r['command']}`", "",
        f"Seeds {', '.join(map(str, c['seeds']))}; scales calibrated on {c['calib']} training images; QAT: "
        f"{c['qat_epochs']} epochs of fine-tuning, per-group scales per {c['group']} output channels; the whole "
        f"test sets. The baseline of the last column is the paper-style network (multiplier first and last "
        f"layers), post-training quantised, with multiplier requantisation at the same width, measured in "
        f"this run.", "",
        markdown_table(["network", "first and last layers", "model", "mean accuracy %", "min–max %",
                        "mean − baseline (points)"], rows, "lllrrr"), ""])


def plot_accuracy_bench(r, path):
    plt = pyplot()
    networks = r["config"]["networks"]
    fig, axes = plt.subplots(1, len(networks), figsize=(6 * len(networks), 3.8), squeeze=False)
    for ax, network in zip(axes[0], networks):
        for tag, row in r["summary"].items():
            if not tag.startswith(network + "/"):
                continue
            fl = tag.split("/")[1]
            for quant in r["config"]["quants"]:
                for rq in r["config"]["requants"]:
                    if rq == "shift1":
                        continue            # far below the others (the table has it)
                    ws = r["config"]["widths"]
                    ys = [100 * row["programs"][f"{quant}/{rq}/{w}"]["mean"] for w in ws]
                    ax.plot(ws, ys, marker="o", ls="-" if fl == "mul" else "--",
                            label=f"first/last {fl}, {_Q_LABELS[quant]}, {_RQ_LABELS[rq]}")
        ax.set_title(f"{network}: program accuracy (mean over seeds)")
        ax.set_xlabel("width (bits)")
        ax.set_ylabel("test accuracy %")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
