"""``adderhw quantise``: test accuracy against the adder layers' width, for every quantisation method,
as the mean and range over several seeds.

For each network (digits: golden.addernet; MNIST: golden.mnist) and each seed, the float AdderNet
and its CNN twin are trained deterministically (golden.determinism; the seed sets the data split,
the initial weights and the data order). Then, for each width, the adder layers (and the twin's
convolutions in their places) are quantised and evaluated on the whole test set, everything else
staying float:

* ``ptq``: post-training quantisation as `adderhw demo digits` does it (golden.addernet.
  FixedPointAdders: one power-of-two scale per layer that saturates neither X nor F);
* ``ptq-clamp``: post-training, with golden.qat's exact weight clipping and calibrated scale that
  clamps activation outliers (golden.qat.ClampedFixedPoint, golden.qat.calibrate_fracs);
* ``qat``: ``ptq-clamp``'s scales, then quantisation-aware fine-tuning from the float model
  (golden.qat.fine_tune), evaluated in integers with the golden model;
* ``qat-group``: ``qat`` with one scale per group of ``group`` output channels (golden.qat's
  per-group scales, calibrated per group, then fine-tuned), evaluated the same way;
* ``cnn-ptq``: the CNN twin quantised the usual way (golden.qat.TwinFixedPoint: per-channel weight
  scales, one activation scale per layer), evaluated in integers with golden.mac_conv2d.

Every evaluation runs the quantised layers in integers through the golden model (golden.adder2d,
golden.mac_conv2d). Each (network, seed) result is written to ``quantise.partial.json`` as soon as
it is done, and a rerun with the same settings reuses it, so an interrupted run resumes.
Reports: quantise.json, quantise.md (one table, mean and range), quantise.png (one plot).
"""
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from adderhw.golden.addernet import FixedPointAdders, accuracy
from adderhw.golden.determinism import kernel_fingerprint
from adderhw.golden.trained import trained_pair
from adderhw.quantise_rtl import attach_sweep, format_quantise_rtl, run_quantise_rtl
from adderhw.base.errors import BadParameter
from adderhw.base.networks import QAT_EPOCHS, STUDY_EPOCHS
from adderhw.base.tables import markdown_table, pyplot, write_reports
from adderhw.base.validate import check_int

__all__ = ["QuantiseConfig", "run_quantise", "format_quantise", "plot_quantise", "METHODS"]

METHODS = ("ptq", "ptq-clamp", "qat", "qat-group", "cnn-ptq")
_METHOD_LABELS = {"ptq": "AdderNet, PTQ (scale covers X and F)",
                  "ptq-clamp": "AdderNet, PTQ with clipping and clamping",
                  "qat": "AdderNet, QAT",
                  "qat-group": "AdderNet, QAT with per-group scales",
                  "cnn-ptq": "CNN twin, PTQ (per-channel W, per-tensor X)"}


@dataclass
class QuantiseConfig:
    networks: tuple = ("digits", "mnist")
    seeds: tuple = (0, 1, 2, 3, 4)
    mnist_seeds: tuple = None   # None: the same seeds as digits
    widths: tuple = (3, 4, 5, 6, 8, 12)
    digits_epochs: int = STUDY_EPOCHS["digits"]
    mnist_epochs: int = STUDY_EPOCHS["mnist"]
    qat_epochs: int = QAT_EPOCHS
    calib: int = 512            # training images that calibrate the scales
    group: int = 8              # output channels per scale for qat-group (the array's rows)
    train: bool = False         # train the float networks afresh instead of using the committed weights

    def __post_init__(self):
        self.networks = tuple(self.networks)
        for n in self.networks:
            if n not in ("digits", "mnist"):
                raise BadParameter(f"networks must be digits and/or mnist, not {n!r}")
        if not self.networks:
            raise BadParameter("networks must name at least one network (digits, mnist)")
        self.seeds = tuple(check_int("seed", s, lo=0) for s in self.seeds)
        self.mnist_seeds = self.seeds if self.mnist_seeds is None else \
            tuple(check_int("seed", s, lo=0) for s in self.mnist_seeds)
        self.widths = tuple(check_int("width", w, lo=2, hi=16) for w in self.widths)
        if not self.seeds or not self.mnist_seeds or not self.widths:
            raise BadParameter("seeds and widths must each hold at least one value")
        for name in ("digits_epochs", "mnist_epochs", "qat_epochs", "calib", "group"):
            setattr(self, name, check_int(name, getattr(self, name), lo=1))


def _one_seed(conf, network, seed, say):
    # torch: deferred (start-up, golden/__init__ docstring)
    import torch
    from adderhw.golden.qat import ClampedFixedPoint, TwinFixedPoint, calibrate_fracs, copy_model, fine_tune
    epochs = conf.digits_epochs if network == "digits" else conf.mnist_epochs
    t0 = time.perf_counter()
    say(f"{network}, seed {seed}: training the float AdderNet and CNN ({epochs} epochs)")
    data, adder, cnn, weights = trained_pair(network, seed, epochs, say, fresh=conf.train)
    x, y = data.x_test, data.y_test
    calib = data.x_train[:conf.calib]
    torch.set_num_threads(1)
    out = {"float": {"AdderNet": accuracy(adder, x, y), "CNN": accuracy(cnn, x, y)}, "widths": {},
           "weights": weights}
    say(f"  float: AdderNet {out['float']['AdderNet']:.2%}, CNN {out['float']['CNN']:.2%}")
    for w in conf.widths:
        fracs = calibrate_fracs(adder, calib, w)
        qat_model = copy_model(adder)
        fine_tune(qat_model, data, w, fracs, epochs=conf.qat_epochs, seed=seed, distort=network == "mnist")
        group_fracs = calibrate_fracs(adder, calib, w, group=conf.group)
        group_model = copy_model(adder)
        fine_tune(group_model, data, w, group_fracs, epochs=conf.qat_epochs, seed=seed, distort=network == "mnist")
        ptq = FixedPointAdders(adder, w, calib)
        clamp = ClampedFixedPoint(w, fracs)
        row = {"ptq": accuracy(adder, x, y, ptq), "ptq-clamp": accuracy(adder, x, y, clamp),
               "qat": accuracy(qat_model, x, y, ClampedFixedPoint(w, fracs)),
               "qat-group": accuracy(group_model, x, y, ClampedFixedPoint(w, group_fracs)),
               "cnn-ptq": accuracy(cnn, x, y, TwinFixedPoint(cnn, w, calib)),
               "frac_ptq": dict(ptq.frac), "frac_clamp": fracs, "frac_group": group_fracs,
               "clamped_activations": sum(clamp.saturated.values())}
        out["widths"][str(w)] = row
        say(f"  {w:2d} bits: PTQ {row['ptq']:.2%}, PTQ+clamp {row['ptq-clamp']:.2%}, QAT {row['qat']:.2%}, "
            f"QAT per group {row['qat-group']:.2%}, "
            f"CNN PTQ {row['cnn-ptq']:.2%} (scales {fracs})")
    out["seconds"] = time.perf_counter() - t0
    return out


def _stats(values):
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "min": float(v.min()), "max": float(v.max()), "n": int(len(v))}


def _seeds(conf, network):
    return conf.mnist_seeds if network == "mnist" else conf.seeds


def _run_key(conf, network):
    """The settings one (network, seed) result depends on: a saved result is reused only if they match
    (the kernels too: QAT fine-tuning sums in their order, golden.determinism)."""
    return {"epochs": conf.digits_epochs if network == "digits" else conf.mnist_epochs, "train": conf.train,
            "kernels": kernel_fingerprint(),
            "qat_epochs": conf.qat_epochs, "widths": list(conf.widths), "calib": conf.calib, "group": conf.group,
            "methods": list(METHODS)}


def run_quantise(conf=None, out_dir=None, progress=None, rtl=None):
    """The whole sweep (module docstring); returns the JSON-ready result and, with ``out_dir``,
    writes the reports there. ``rtl`` (adderhw.quantise_rtl.QuantiseRtlConfig): also run the QAT
    digits model of one seed through the Verilog array at those widths (result["rtl"])."""
    conf = conf or QuantiseConfig()
    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    partial_path = Path(out_dir) / "quantise.partial.json" if out_dir is not None else None
    saved = {}
    if partial_path is not None and partial_path.exists():
        saved = json.loads(partial_path.read_text()).get("runs", {})
    runs = {}
    for network in conf.networks:
        for seed in _seeds(conf, network):
            tag = f"{network}/{seed}"
            key = _run_key(conf, network)
            if saved.get(tag, {}).get("key") == key:
                say(f"{tag}: reusing the result in {partial_path}")
                runs[tag] = saved[tag]
                continue
            runs[tag] = dict(_one_seed(conf, network, seed, say), key=key)
            if partial_path is not None:
                saved[tag] = runs[tag]
                partial_path.parent.mkdir(parents=True, exist_ok=True)
                partial_path.write_text(json.dumps({"runs": saved}))
    summary = {}
    for network in conf.networks:
        rs = [runs[f"{network}/{s}"] for s in _seeds(conf, network)]
        summary[network] = {
            "float": {k: _stats([r["float"][k] for r in rs]) for k in ("AdderNet", "CNN")},
            "methods": {m: {str(w): _stats([r["widths"][str(w)][m] for r in rs]) for w in conf.widths}
                        for m in METHODS}}
    command = (f"adderhw quantise --networks {','.join(conf.networks)} --seeds {','.join(map(str, conf.seeds))} "
               f"--mnist-seeds {','.join(map(str, conf.mnist_seeds))} "
               f"--widths {','.join(map(str, conf.widths))} --digits-epochs {conf.digits_epochs} "
               f"--mnist-epochs {conf.mnist_epochs} --qat-epochs {conf.qat_epochs} --group {conf.group}"
               + (" --train" if conf.train else ""))
    result = {"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(conf).items()},
              "command": command, "summary": summary, "runs": runs, "seconds": time.perf_counter() - t0}
    if rtl is not None:
        result["rtl"] = attach_sweep(run_quantise_rtl(rtl, say), runs)
    if out_dir is not None:
        write_reports(Path(out_dir), "quantise", result, format_quantise(result))
        plot_quantise(result, Path(out_dir) / "quantise.png")
    return result


def _cell(s):
    return f"{100 * s['mean']:.2f} ({100 * s['min']:.1f}–{100 * s['max']:.1f})"


def format_quantise(r):
    c = r["config"]
    widths = [str(w) for w in c["widths"]]
    lines = ["# Accuracy against the adder layers' width", "", f"`{r['command']}`", "",
             f"Test accuracy in %, mean (min–max) over seeds {', '.join(map(str, c['seeds']))} (MNIST: "
             f"{', '.join(map(str, c['mnist_seeds']))}). Only the adder "
             f"layers (and the CNN twin's convolutions in their places) are quantised, in integers through "
             f"the golden model; the first convolution and the classifier stay float. Float training: digits "
             f"{c['digits_epochs']} epochs, MNIST {c['mnist_epochs']} epochs; QAT: {c['qat_epochs']} epochs of "
             f"fine-tuning from the float model.", ""]
    rows = []
    for network, s in r["summary"].items():
        for kind in ("AdderNet", "CNN"):
            rows.append([network, f"{kind}, float", _cell(s["float"][kind])] + [""] * (len(widths) - 1))
        for m in METHODS:
            rows.append([network, _METHOD_LABELS[m]] + [_cell(s["methods"][m][w]) for w in widths])
    lines.append(markdown_table(["network", "model", *[f"{w} bits" for w in widths]], rows,
                                "ll" + "r" * len(widths)))
    lines += ["", "Float rows: the accuracy is in the first width column (floats have no width).", "",
              "Goals (AdderNet, mean over the seeds, best method against the AdderNet's float mean):", ""]
    goal_rows = []
    for network, s in r["summary"].items():
        fl = s["float"]["AdderNet"]["mean"]
        for w, limit in (("6", 0.5), ("4", 2.0), ("3", None)):
            if w not in widths:
                continue
            best_m = max(("ptq", "ptq-clamp", "qat", "qat-group"), key=lambda m: s["methods"][m][w]["mean"])
            gap = 100 * (fl - s["methods"][best_m][w]["mean"])
            verdict = "reported" if limit is None else ("met" if gap <= limit else "missed")
            goal_rows.append([network, f"{w} bits", best_m, f"{gap:.2f}",
                              "—" if limit is None else f"≤ {limit}", verdict])
    lines.append(markdown_table(["network", "width", "best method", "points below float", "goal", "verdict"],
                                goal_rows, "lllrrl"))
    lines += ["", f"Done in {r['seconds']:.0f} s (this run; resumed results count their own time)."]
    if "rtl" in r:
        lines += ["", format_quantise_rtl(r["rtl"])]
    return "\n".join(lines)


def plot_quantise(r, path):
    """PNG: one panel per network, accuracy against width per method (mean, with the seeds' range as
    error bars), and the float means as lines."""
    plt = pyplot()
    nets = list(r["summary"])
    fig, axes = plt.subplots(1, len(nets), figsize=(6 * len(nets), 4.4), squeeze=False)
    ws = r["config"]["widths"]
    for ax, network in zip(axes[0], nets):
        s = r["summary"][network]
        for i, m in enumerate(METHODS):
            st = [s["methods"][m][str(w)] for w in ws]
            mean = np.array([100 * v["mean"] for v in st])
            # clipped at 0: a mean of equal values can land a rounding error beyond them
            err = np.maximum(0, [[100 * (v["mean"] - v["min"]) for v in st], [100 * (v["max"] - v["mean"]) for v in st]])
            ax.errorbar(np.array(ws) + (i - (len(METHODS) - 1) / 2) * 0.08, mean, yerr=err, fmt="o-", ms=4, capsize=3,
                        color=f"C{i}", label=_METHOD_LABELS[m])
        ax.axhline(100 * s["float"]["AdderNet"]["mean"], color="k", ls="--", lw=1, label="AdderNet float (mean)")
        ax.axhline(100 * s["float"]["CNN"]["mean"], color="C3", ls=":", lw=1, label="CNN float (mean)")
        ax.set_xticks(ws)
        ax.set_xlabel("width of the quantised layers (bits)")
        ax.set_ylabel("test accuracy (%), mean and range over seeds")
        n = len(r["config"]["mnist_seeds" if network == "mnist" else "seeds"])
        ax.set_title(f"{network}: {n} seeds")
        ax.set_ylim(0, 101)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
