"""``adderhw demo digits``: a trained AdderNet on real data, quantised, run bit-exact through the
simulated hardware, with cycles and energy against the multiplier twin.

Steps (each reported):
1. the trained digits AdderNet and its CNN twin (adderhw.golden.trained: the committed weights by default,
   ``train=True`` trains afresh), float test accuracy of both;
2. quantise the adder layers to W bits for W in 4, 6, 8, 12, 16 (shared X/F power-of-two scale
   per layer, from training data): fixed-point test accuracy and saturated values;
3. hardware inference at the demo width: the adder layers of a small batch through the Amaranth
   simulator, and of the whole test set through a Verilog simulator (Verilator by default); every
   adder-layer output is compared with the golden model bit for bit, so the hardware accuracy must
   equal the golden fixed-point accuracy;
4. the CNN twin's convolutions in the same places through the MAC twin the same way;
5. cycles of every layer run from the exact cycle model, checked against the RTL's measured cycles,
   and an energy estimate (golden.compare) for the AdderNet on the SAD array vs the CNN on the MAC.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adderhw.golden.addernet import (ADDER_LAYERS, FixedPointAdders, accuracy, layer_label, load_digits_data,
                                     predict)
from adderhw.compare import compare_network
from adderhw.base.config import ArrayConfig
from adderhw.base.errors import BadParameter
from adderhw.base.executor import make_executor
from adderhw.base.words import count
from adderhw.base.tables import markdown_table, pyplot, write_reports as write_report_files
from adderhw.golden.cycles import layer_cycles
from adderhw.golden.networks import Layer, Network
from adderhw.golden.trained import trained_network

from adderhw.sim.layer import run_layer

__all__ = ["DigitsConfig", "run_digits", "format_digits", "plot_digits", "hardware_inference", "HardwareRuns"]


@dataclass
class DigitsConfig:
    """The demo's embedded defaults; every field can be changed from the CLI."""
    epochs: int = 40
    widths: tuple = (4, 6, 8, 12, 16)
    array: ArrayConfig = ArrayConfig(rows=8, cols=8, width=8)   # the hardware run's array (k_max set per layer)
    small_batch: int = 4                 # images through the Amaranth simulator
    verilog_backend: str = "verilator"
    verilog_batch: int = 0               # images through the Verilog simulator; 0 = the whole test set
    chunk: int = 150                     # images per Verilog run
    channels: tuple = (8, 16, 16)
    seed: int = 0
    calib: int = 512                     # training images used to choose each layer's scale
    train: bool = False                  # train afresh instead of using the committed weights or the cache


@dataclass
class HardwareRuns:
    """What a hardware inference ran: every run's cycles next to the cycle model's, and the count of
    output values that differ from golden."""
    cycles: list = field(default_factory=list)         # (backend, layer, images, measured, model)
    mismatches: int = 0


def _layer_spec(name, module, x):
    n, c, h, w = x.shape
    return Layer(name, c, module.weight.shape[0], module.weight.shape[2], 1, 1, h, w)


def hardware_inference(model, cfg_hw, fp_golden, x, backend, chunk, runs, say, executor=None):
    """Fixed-point inference of ``x`` with the model's adder (or twin conv) layers on the RTL;
    every layer output is checked against golden. Returns logits. ``runs`` records each run's
    layer by its report name (the twin's are conv2, conv3). ``executor`` (adderhw.base.executor):
    run a layer's chunks of images as parallel jobs there; None runs them one after another here."""
    golden_compute = fp_golden.compute

    def chunks(xq, wq, stride, padding):
        starts = range(0, len(xq), chunk)
        if executor is None:
            for i in starts:
                yield run_layer(cfg_hw, xq[i:i + chunk], wq, stride, padding, backend=backend, progress=say)
            return
        # a layer's chunks are independent; the next layer needs all of them, so gather in order
        futures = [executor.submit(run_layer, cfg_hw, xq[i:i + chunk], wq, stride, padding, backend) for i in starts]
        for f in futures:
            yield f.result()

    def compute(name, xq, wq, stride, padding):
        label = layer_label(name, model.adder)
        parts = []
        for part, cycles in chunks(xq, wq, stride, padding):
            spec = Layer(label, xq.shape[1], wq.shape[0], wq.shape[2], stride, padding, xq.shape[2], xq.shape[3])
            model_cycles = layer_cycles(cfg_hw, spec, batch=len(part))
            runs.cycles.append((backend, label, len(part), cycles, model_cycles))
            parts.append(part)
        y_hw = np.concatenate(parts)
        y_gold = golden_compute(name, xq, wq, stride, padding)
        runs.mismatches += int(np.count_nonzero(y_hw != y_gold))
        say(f"  {backend}: {label} on {count(len(xq), 'image')}, {cfg_hw.pe.upper()} array: "
            f"{'bit-exact' if np.array_equal(y_hw, y_gold) else 'MISMATCH'} against golden")
        return y_hw

    return predict(model, x, layer_fn=fp_golden.with_compute(compute))


def _check_batches(conf, n_test):
    """Refuse, before training, a hardware batch larger than the test set: the report would
    otherwise name more images than were run."""
    for name, lo in (("small_batch", 1), ("verilog_batch", 0)):
        v = getattr(conf, name)
        if not lo <= v <= n_test:
            zero = "; 0 means all of them" if lo == 0 else ""
            raise BadParameter(f"{name} must be from {lo} to {n_test} (the test set has {n_test} images{zero}), "
                               f"not {v}")


def run_digits(conf=None, progress=None, scheduler=None):
    """The whole demo (see the module docstring); returns the JSON-ready result. ``scheduler``: None
    runs the Verilog batch here, one chunk after another; a Dask scheduler (``tcp://HOST:8786`` or
    ``local:N``, adderhw.base.executor) runs each layer's chunks of images there in parallel."""
    conf = conf or DigitsConfig()
    say = progress or (lambda m: None)
    t_start = time.perf_counter()
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    data = load_digits_data(conf.seed)
    _check_batches(conf, len(data.y_test))
    say(f"digits: {len(data.y_train)} training and {len(data.y_test)} test images (scikit-learn, 8x8)")
    nets, weights = {}, {}
    for adder in (True, False):
        kind = "AdderNet" if adder else "CNN"
        t0 = time.perf_counter()
        net = trained_network("digits", adder, conf.seed, conf.epochs, fresh=conf.train, channels=conf.channels,
                              progress=say)
        m = net.model
        nets[kind] = (m, accuracy(m, data.x_test, data.y_test), time.perf_counter() - t0)
        weights[kind] = net.record()
    adder_net, cnn_net = nets["AdderNet"][0], nets["CNN"][0]
    calib = data.x_train[:conf.calib]

    say("fixed-point accuracy of the adder layers (golden model)")
    fixed = []
    for w in conf.widths:
        fp = FixedPointAdders(adder_net, w, calib)
        acc = accuracy(adder_net, data.x_test, data.y_test, fp)
        fixed.append({"width": w, "accuracy": acc, "frac_bits": dict(fp.frac),
                      "saturated": sum(fp.saturated.values())})
        say(f"  {w:2d} bits: {acc:.2%} (scales {_scales(fp.frac)}; {sum(fp.saturated.values())} saturated)")

    w = conf.array.width
    k_max = max(c * 9 for c in conf.channels[:2])
    sad_cfg = conf.array.with_(k_max=k_max, pe="sad", mul_stages=1)
    mac_cfg = sad_cfg.with_(pe="mac")
    hw = {}
    for kind, model, cfg in (("AdderNet", adder_net, sad_cfg), ("CNN", cnn_net, mac_cfg)):
        fp = FixedPointAdders(model, w, calib)
        runs = HardwareRuns()
        n_small = conf.small_batch
        n_big = conf.verilog_batch or len(data.y_test)
        say(f"hardware inference, {kind} on the {cfg.rows}x{cfg.cols} {cfg.pe.upper()} array at {w} bits")
        xs, ys = data.x_test[:n_small], data.y_test[:n_small]
        small = hardware_inference(model, cfg, fp, xs, "amaranth", conf.chunk, runs, say)
        xb, yb = data.x_test[:n_big], data.y_test[:n_big]
        if scheduler is None:
            big = hardware_inference(model, cfg, fp, xb, conf.verilog_backend, conf.chunk, runs, say)
        else:
            with make_executor(scheduler=scheduler, progress=say) as executor:
                big = hardware_inference(model, cfg, fp, xb, conf.verilog_backend, conf.chunk, runs, say, executor)
        gold_small = predict(model, xs, layer_fn=fp).argmax(1)
        gold_big = predict(model, xb, layer_fn=fp).argmax(1)
        hw[kind] = {
            "array": cfg.describe(), "mismatches": runs.mismatches,
            "amaranth": {"images": n_small, "accuracy": float(np.mean(small.argmax(1) == ys)),
                         "golden_accuracy": float(np.mean(gold_small == ys)),
                         "predictions": small.argmax(1).tolist()},
            conf.verilog_backend: {"images": n_big, "accuracy": float(np.mean(big.argmax(1) == yb)),
                                   "golden_accuracy": float(np.mean(gold_big == yb))},
            "cycles": [{"backend": b, "layer": n, "images": i, "measured": c, "model": mc}
                       for b, n, i, c, mc in runs.cycles],
        }

    # energy and cycles for the whole test set, from the layer list of this network
    specs = []
    taps = {}
    with torch.no_grad():
        adder_net(torch.tensor(data.x_test[:1]), taps=taps)
    specs.append(Layer("conv1", 1, conf.channels[0], 3, 1, 1, 8, 8, adder=False))
    for name in ADDER_LAYERS:
        x = taps[name][0]
        specs.append(_layer_spec(name, getattr(adder_net, name), x))
    specs.append(Layer("fc", conf.channels[2], 10, adder=False, kind="fc"))
    net = Network("digits", tuple(specs), "sklearn digits")
    comparison = compare_network(net, conf.array, batch=len(data.y_test))
    return {
        "config": {k: (list(v) if isinstance(v, tuple) else
                       {"rows": v.rows, "cols": v.cols, "width": v.width} if isinstance(v, ArrayConfig) else v)
                   for k, v in conf.__dict__.items()},
        "data": {"train": int(len(data.y_train)), "test": int(len(data.y_test))},
        # "seconds": training, or loading the committed or cached weights ("weights" says which)
        "float": {k: {"accuracy": v[1], "seconds": v[2]} for k, v in nets.items()},
        "weights": weights,
        "command": "adderhw demo digits" + (f" --seed {conf.seed}" if conf.seed else "")
                   + (f" --epochs {conf.epochs}" if conf.epochs != DigitsConfig.epochs else "")
                   + (" --train" if conf.train else ""),
        "fixed_point": fixed, "hardware": hw, "comparison": comparison,
        "test_images": data.x_test[:conf.small_batch].tolist(),
        "test_labels": data.y_test[:conf.small_batch].tolist(),
        "seconds": time.perf_counter() - t_start,
    }


def _scales(frac_bits):
    """Each adder layer's scale as a power of two: "add1 2^-3, add2 2^-2" (a step of 2^-f per unit)."""
    return ", ".join(f"{name} 2^{-bits}" for name, bits in frac_bits.items())


def _hw_width(config):
    """The hardware run's width from a result's config: ``array.width``, or ``hw_width`` in results
    written before the config carried the whole array."""
    return config["array"]["width"] if "array" in config else config["hw_width"]


def format_digits(r):
    c = r["config"]
    hw_width = _hw_width(c)
    acc = [["CNN (float)", f"{r['float']['CNN']['accuracy']:.2%}"],
           ["AdderNet (float, PyTorch reference)", f"{r['float']['AdderNet']['accuracy']:.2%}"]]
    for f in r["fixed_point"]:
        acc.append([f"AdderNet, adder layers {f['width']}-bit fixed point (golden)",
                    f"{f['accuracy']:.2%} (scales {_scales(f['frac_bits'])}; {f['saturated']} saturated)"])
    vb = c["verilog_backend"]
    h = r["hardware"]["AdderNet"]
    acc.append([f"AdderNet, {hw_width}-bit, adder layers on the RTL (Amaranth sim, {count(h['amaranth']['images'], 'image')})",
                f"{h['amaranth']['accuracy']:.2%} (golden on the same images: {h['amaranth']['golden_accuracy']:.2%})"])
    acc.append([f"AdderNet, {hw_width}-bit, adder layers on the generated Verilog ({vb}, {count(h[vb]['images'], 'image')})",
                f"{h[vb]['accuracy']:.2%} (golden: {h[vb]['golden_accuracy']:.2%})"])
    lines = [f"## AdderNet on scikit-learn digits ({r['data']['train']} train / {r['data']['test']} test, 8x8)", ""]
    if "command" in r:
        lines += [f"`{r['command']}`", ""]
    for kind, w in r.get("weights", {}).items():
        lines.append(f"- {kind} weights: {w['source']} `{w['name']}` (sha256 {w['sha256'][:12]})")
    if r.get("weights"):
        lines.append("")
    lines.append(markdown_table(["model", "test accuracy"], acc, "lr"))
    cycles = [[f"{kind} ({'SAD' if kind == 'AdderNet' else 'MAC'})", cy["backend"], cy["layer"], cy["images"],
               cy["measured"], cy["model"]] for kind, h in r["hardware"].items() for cy in h["cycles"]]
    lines += ["", "Every hardware layer output against the golden model: "
              + ", ".join(f"{k}: {'bit-exact' if h['mismatches'] == 0 else str(h['mismatches']) + ' values differ'}"
                          for k, h in r["hardware"].items()) + ".", "",
              markdown_table(["design", "backend", "layer", "images", "RTL cycles", "cycle model"], cycles, "lllrrr")]
    cmp = r["comparison"]
    a, m = cmp["totals"]["addernet"], cmp["totals"]["cnn"]
    lines += ["", f"Whole test set ({cmp['batch']} images), {cmp['arrays']['sad'][0]}x{cmp['arrays']['sad'][1]} arrays, "
              f"{cmp['width']}-bit (cycle model; energy: {cmp['energy_source']}):", "",
              markdown_table(["design", "#Mul", "#Add", "cycles", "utilisation", "energy (uJ, est.)"], [
                  ["AdderNet on SAD (first/last layer on MAC)", f"{a['mul']:,}", f"{a['add']:,}", f"{a['cycles']:,}",
                   f"{a['utilisation']:.1%}", f"{a['energy_pj'] / 1e6:.3f}"],
                  ["CNN on MAC", f"{m['mul']:,}", f"{m['add']:,}", f"{m['cycles']:,}", f"{m['utilisation']:.1%}",
                   f"{m['energy_pj'] / 1e6:.3f}"]], "lrrrrr"), "",
              f"Done in {r['seconds']:.0f} s."]
    return "\n".join(lines)


def _zoom_inset(ax, draw, ws, fixed, floats, hw, golden):
    """An inset of ``ax`` on the widths within 5 points of the best fixed-point (or RTL) result,
    with the float lines that fall in that window; ``draw(axes, star)`` draws the curves."""
    best = max(fixed + [hw[1]])
    zoom_ws = sorted({w for w, v in zip(ws, fixed) if v >= best - 5} | ({hw[0]} if hw[1] >= best - 5 else set()))
    floats = {name: v for name, v in floats.items() if best - 5 <= v <= best + 5}
    near = ([v for w, v in zip(ws, fixed) if w in zoom_ws] + list(floats.values())
            + ([hw[1]] if hw[0] in zoom_ws else []))
    x0, x1 = zoom_ws[0] - 0.6, max(ws) + 0.6
    lo, hi = min(near) - 0.4, max(near) + 0.4
    inset = ax.inset_axes([0.43, 0.12, 0.54, 0.5])
    draw(inset, star=11)
    inset.set_xlim(x0, x1)
    inset.set_ylim(lo, hi)
    inset.tick_params(labelsize=7)
    inset.set_title(f"zoom: {lo:.1f} to {hi:.1f} %", fontsize=8)
    if len(floats) == 2 and abs(floats["AdderNet"] - floats["CNN"]) < 1e-9:
        notes = [(f"float, both: {floats['CNN']:.2f} %", x1 - 0.1, floats["CNN"], "C0", "right")]
    else:
        notes = [(f"{name} float: {v:.2f} %", x1 - 0.1, v, "C0" if name == "AdderNet" else "C1", "right")
                 for name, v in floats.items()]
    if hw[0] in zoom_ws:
        notes.append((f"RTL = golden: {hw[1]:.2f} %" if hw[1] == golden else f"RTL: {hw[1]:.2f} %, golden {golden:.2f} %",
                      hw[0] + 0.3, hw[1], "r", "left"))
    for text, x, y, color, ha in notes:
        inset.annotate(text, (x, y), textcoords="offset points", xytext=(0, 3), fontsize=7, color=color, ha=ha)
    ax.indicate_inset([x0, lo, x1 - x0, hi - lo], edgecolor="0.5")


def plot_digits(r, path):
    """PNG: test accuracy against the adder layers' width, and the images run on the RTL.

    The full axis shows the collapse below 8 bits; an inset zooms in on the top few percent, where
    the 8-bit golden and hardware points, the wider widths and both float models differ by a
    fraction of a percent (98.7 % against 99.1 % in the committed run) that the full axis hides.
    The images take the right half, as large as it allows, each titled with the hardware's
    prediction, green when it matches the label and red when not.
    """
    plt = pyplot()
    fig = plt.figure(figsize=(11, 4.6))
    ax = fig.add_axes([0.065, 0.12, 0.47, 0.78])
    ws = [f["width"] for f in r["fixed_point"]]
    fixed = [100 * f["accuracy"] for f in r["fixed_point"]]
    floats = {name: 100 * r["float"][name]["accuracy"] for name in ("AdderNet", "CNN")}
    vb = r["config"]["verilog_backend"]
    hw = (_hw_width(r["config"]), 100 * r["hardware"]["AdderNet"][vb]["accuracy"])

    def draw(a, star=14):
        a.plot(ws, fixed, "o-", color="C0", label="AdderNet, fixed-point adder layers (golden)")
        a.axhline(floats["AdderNet"], color="C0", ls="--", label="AdderNet float")
        a.axhline(floats["CNN"], color="C1", ls=":", lw=2, label="CNN float")
        a.plot(*hw, "r*", ms=star, label=f"adder layers on the Verilog ({vb})")
        a.set_xticks(ws)
        a.grid(alpha=0.3)

    draw(ax)
    ax.set_xlabel("adder-layer width (bits)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 104)
    ax.set_title("digits: test accuracy against fixed-point width")
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(0.0, 0.9))
    golden = 100 * r["hardware"]["AdderNet"][vb]["golden_accuracy"]
    _zoom_inset(ax, draw, ws, fixed, floats, hw, golden)

    imgs, labels = r["test_images"], r["test_labels"]
    preds = r["hardware"]["AdderNet"]["amaranth"]["predictions"]
    n = len(preds)
    cols = max(1, int(np.ceil(np.sqrt(n))))
    rows = int(np.ceil(n / cols))
    grid = fig.add_gridspec(rows, cols, left=0.6, right=0.98, bottom=0.05, top=0.84, wspace=0.08, hspace=0.25)
    for i in range(n):
        a = fig.add_subplot(grid[i // cols, i % cols])
        a.imshow(np.array(imgs[i])[0], cmap="gray_r")
        a.set_xticks([])
        a.set_yticks([])
        ok = preds[i] == labels[i]
        a.set_title(f"RTL: {preds[i]}, label {labels[i]}", fontsize=9, color="green" if ok else "red")
    fig.text(0.79, 0.93, f"adder layers on the RTL (Amaranth simulator), {count(n, 'image')}", fontsize=9,
             ha="center")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_reports(r, out_dir):
    write_report_files(out_dir, "digits", r, format_digits(r))
    plot_digits(r, Path(out_dir) / "digits.png")
    return Path(out_dir)
