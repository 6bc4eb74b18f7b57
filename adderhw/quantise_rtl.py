"""The QAT digits AdderNet at low widths, run through the generated Verilog bit for bit.

``adderhw quantise --rtl-widths 4,6`` adds this to the accuracy sweep (adderhw.quantise). For one
seed, each width W and each QAT method (one scale per layer; one per group of output channels),
the digits AdderNet is trained (deterministically, golden.determinism, so
it is the sweep's model for that seed), its adder-layer scales calibrated and the model fine-tuned
with QAT (golden.qat), exactly as the sweep's ``qat`` method. Then the whole test set runs with the
adder layers on a W-bit SAD array in a Verilog simulator (Verilator by default;
adderhw.digits.hardware_inference): every layer output is compared with golden.adder2d's, the
hardware accuracy with the golden accuracy, and each run's cycles with golden.cycles.

No hardware change is needed for QAT: the array takes W-bit X and F and the RTL generator takes
any width from 2 to 16 bits; the weight clipping's constant is subtracted after the array, where
the post-processing's bias sits (golden.qat). The first convolution and the classifier stay float,
as in the sweep.
"""
import time
from dataclasses import asdict, dataclass

import numpy as np

from adderhw.base.config import ArrayConfig
from adderhw.base.errors import BadParameter
from adderhw.base.tables import markdown_table
from adderhw.base.validate import check_int
from adderhw.base.networks import QAT_EPOCHS
from adderhw.base.simulators import ENGINE_SIMULATORS
from adderhw.golden.addernet import ADDER_LAYERS, accuracy
from adderhw.golden.trained import trained_pair

__all__ = ["QuantiseRtlConfig", "run_quantise_rtl", "attach_sweep", "format_quantise_rtl"]

BACKENDS = ENGINE_SIMULATORS
#: the QAT methods run through the RTL (adderhw.quantise's names)
METHODS = ("qat", "qat-group")
_LABELS = {"qat": "QAT, one scale per layer", "qat-group": "QAT, one scale per group of channels"}


@dataclass
class QuantiseRtlConfig:
    widths: tuple = (4, 6)
    seed: int = 0
    epochs: int = 40            # float training, as the sweep's digits_epochs
    qat_epochs: int = QAT_EPOCHS
    calib: int = 512
    group: int = 8              # output channels per scale for qat-group (one tile of the array's rows)
    rows: int = 8
    cols: int = 8
    backend: str = "verilator"
    images: int = 0             # test images through the RTL; 0 = the whole test set
    chunk: int = 150            # images per simulator run
    train: bool = False         # train the float network afresh instead of using the committed weights

    def __post_init__(self):
        self.widths = tuple(check_int("rtl width", w, lo=2, hi=16) for w in self.widths)
        if not self.widths:
            raise BadParameter("rtl widths must hold at least one width (2 to 16)")
        for name, lo in (("seed", 0), ("epochs", 1), ("qat_epochs", 1), ("calib", 1), ("group", 1), ("rows", 1),
                         ("cols", 1),
                         ("images", 0), ("chunk", 1)):
            setattr(self, name, check_int(name, getattr(self, name), lo=lo))
        if self.backend not in BACKENDS:
            raise BadParameter(f"rtl backend must be one of {', '.join(BACKENDS)}, not {self.backend!r}")


def run_quantise_rtl(conf, progress=None):
    """Module docstring; returns the JSON-ready result."""
    # torch: deferred (start-up, golden/__init__ docstring)
    import torch
    from adderhw.golden.qat import ClampedFixedPoint, calibrate_fracs, copy_model, fine_tune
    from adderhw.digits import HardwareRuns, hardware_inference     # start-up: deferred (cli docstring)
    say = progress or (lambda m: None)
    t0 = time.perf_counter()
    say(f"RTL at {', '.join(map(str, conf.widths))} bits: training the digits AdderNet, seed {conf.seed} "
        f"({conf.epochs} epochs)")
    data, adder, _, weights = trained_pair("digits", conf.seed, conf.epochs, say, twin=False, fresh=conf.train)
    n = conf.images or len(data.y_test)
    if n > len(data.y_test):
        raise BadParameter(f"rtl images must be at most the {len(data.y_test)} test images, not {n}")
    x, y = data.x_test[:n], data.y_test[:n]
    calib = data.x_train[:conf.calib]
    k_max = max(int(np.prod(getattr(adder, name).weight.shape[1:])) for name in ADDER_LAYERS)
    torch.set_num_threads(1)
    rows = []
    for w, method in ((w, m) for w in conf.widths for m in METHODS):
        fracs = calibrate_fracs(adder, calib, w, group=conf.group if method == "qat-group" else None)
        model = copy_model(adder)
        say(f"  {w} bits, {method}: QAT fine-tuning ({conf.qat_epochs} epochs), scales {fracs}")
        fine_tune(model, data, w, fracs, epochs=conf.qat_epochs, seed=conf.seed)
        cfg = ArrayConfig(rows=conf.rows, cols=conf.cols, width=w, k_max=k_max, pe="sad", mul_stages=1)
        runs = HardwareRuns()
        logits = hardware_inference(model, cfg, ClampedFixedPoint(w, fracs), x, conf.backend, conf.chunk, runs, say)
        golden_acc = accuracy(model, x, y, ClampedFixedPoint(w, fracs))
        cycles_equal = all(measured == modelled for *_, measured, modelled in runs.cycles)
        row = {"width": w, "method": method, "fracs": fracs, "array": cfg.describe(), "images": n, "test_images": len(data.y_test),
               "hardware_accuracy": float(np.mean(logits.argmax(1) == y)), "golden_accuracy": golden_acc,
               "mismatches": runs.mismatches, "cycles_equal_model": cycles_equal,
               "cycles": [{"layer": name, "images": i, "measured": c, "model": mc}
                          for _, name, i, c, mc in runs.cycles]}
        rows.append(row)
        say(f"  {w} bits, {method}, on {conf.backend}: {row['hardware_accuracy']:.2%} (golden {golden_acc:.2%}), "
            f"{runs.mismatches} values differ from golden, cycles {'equal' if cycles_equal else 'DIFFER FROM'} "
            f"the model")
    command = (f"adderhw quantise --rtl-widths {','.join(map(str, conf.widths))} --rtl-seed {conf.seed} "
               f"--rtl-backend {conf.backend} --group {conf.group}" + (f" --rtl-images {conf.images}" if conf.images else ""))
    return {"config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(conf).items()},
            "command": command, "rows": rows, "weights": weights, "seconds": time.perf_counter() - t0}


def attach_sweep(r, sweep_runs):
    """Add each row's ``sweep_accuracy``: the sweep's test accuracy for the same method, seed and
    width (``sweep_runs``: adderhw.quantise's per-seed runs), which the golden accuracy here must
    repeat when the whole test set ran, since the training is deterministic."""
    run = sweep_runs.get(f"digits/{r['config']['seed']}", {})
    for row in r["rows"]:
        acc = run.get("widths", {}).get(str(row["width"]), {}).get(row["method"])
        row["sweep_accuracy"] = acc if row["images"] == row["test_images"] else None
    return r


def format_quantise_rtl(r):
    c = r["config"]
    table = []
    for row in r["rows"]:
        sweep = row.get("sweep_accuracy")
        table.append([f"{row['width']} bits", _LABELS[row["method"]], row["array"], f"{row['images']}", f"{100 * row['hardware_accuracy']:.2f}",
                      f"{100 * row['golden_accuracy']:.2f}", "-" if sweep is None else f"{100 * sweep:.2f}",
                      f"{row['mismatches']}", "yes" if row["cycles_equal_model"] else "**no**"])
    return "\n".join([
        f"## The QAT digits AdderNet through the Verilog SAD array ({c['backend']}, seed {c['seed']})", "",
        f"`{r['command']}`", "",
        markdown_table(["width", "method", "array", "test images", "hardware accuracy %", "golden accuracy %",
                        "the sweep's accuracy %", "values differing from golden", "cycles = model"],
                       table, "lllrrrrrl"), "",
        "The golden accuracy must repeat the sweep's accuracy of the same method and seed (the training is "
        "deterministic); the hardware accuracy must equal the golden one. With per-group scales each group of "
        f"{c['group']} output channels runs as its own tile of rows, its X quantised at its own scale.", ""])
