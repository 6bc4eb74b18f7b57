"""``adderhw compare``: an adder network on the SAD array against its CNN twin on the MAC array.

Two designs of the same size R x C and width:
  * AdderNet: adder layers on the SAD array; the multiplier layers the paper keeps (first conv,
    last classifier) on a MAC array of the same size.
  * CNN: every layer on the MAC array.
Per layer and in total: #Mul and #Add as the paper counts them (golden.networks), cycles from the
exact cycle model (golden.cycles, which tests hold the RTL to), utilisation (useful terms over
PE-cycles), and an arithmetic energy ESTIMATE from Horowitz's 45 nm table (golden.energy).
When Fmax is known for a design (from ``adderhw build`` reports), time = cycles / Fmax is added.
"""
import numpy as np

from adderhw.base.config import ArrayConfig, check_config
from adderhw.base.tables import markdown_table, pyplot
from adderhw.base.words import a_an
from adderhw.golden.cycles import layer_cycles, utilisation
from adderhw.golden.energy import term_energy_pj

__all__ = ["compare_network", "format_compare", "plot_compare"]


def compare_network(net, config=None, batch=1, fmax_mhz=None, sad_shape=None):
    """Comparison as a JSON-ready dict.

    ``config``: the ArrayConfig of both designs (rows, cols, width; its k_max is raised to the
    network's largest K, its pe is set per design); default 8x8, 8-bit. ``fmax_mhz``:
    {"sad": MHz, "mac": MHz} (either may be absent). ``sad_shape``: (rows, cols) of the SAD array if
    it differs (e.g. iso-area: more PEs in the same LUTs)."""
    config = check_config(ArrayConfig() if config is None else config)
    rows, cols, width = config.rows, config.cols, config.width
    fmax_mhz = fmax_mhz or {}
    k_max = max(layer.gemm(batch)[1] for layer in net.layers)
    mac = config.with_(k_max=k_max, pe="mac", mul_stages=1)
    sr, sc = sad_shape or (rows, cols)
    sad = ArrayConfig(rows=sr, cols=sc, width=width, k_max=k_max, pe="sad")
    mac_for_adder_net = mac.with_(rows=sr, cols=sc)
    layers = []
    for layer in net.layers:
        T, K, P = layer.gemm(batch)
        terms = T * K * P
        a_cfg = sad if layer.adder else mac_for_adder_net
        a_cyc, c_cyc = layer_cycles(a_cfg, layer, batch), layer_cycles(mac, layer, batch)
        a_mul, a_add = layer.mul_add(batch)
        c_mul, c_add = layer.mul_add(batch, as_adder=False)
        layers.append({
            "name": layer.name, "kind": layer.kind, "adder": layer.adder, "T": T, "K": K, "P": P, "terms": terms,
            "addernet": {"array": a_cfg.pe, "mul": a_mul, "add": a_add, "cycles": a_cyc,
                         "utilisation": utilisation(a_cfg, terms, a_cyc),
                         "energy_pj": terms * term_energy_pj(a_cfg.pe, width)},
            "cnn": {"array": "mac", "mul": c_mul, "add": c_add, "cycles": c_cyc,
                    "utilisation": utilisation(mac, terms, c_cyc),
                    "energy_pj": terms * term_energy_pj("mac", width)},
        })
    totals = {}
    for design in ("addernet", "cnn"):
        t = {k: sum(l[design][k] for l in layers) for k in ("mul", "add", "cycles", "energy_pj")}
        pes = sad.pes if design == "addernet" else mac.pes
        t["utilisation"] = sum(l["terms"] for l in layers) / (pes * t["cycles"])
        f = fmax_mhz.get("sad" if design == "addernet" else "mac")
        if f:
            t["fmax_mhz"] = f
            t["time_us"] = t["cycles"] / f
        totals[design] = t
    return {
        "network": net.name, "batch": batch, "width": width,
        "arrays": {"sad": [sr, sc], "mac": [rows, cols]}, "k_max": k_max,
        "energy_source": "Horowitz, ISSCC 2014, 45 nm: arithmetic only (estimate)",
        "layers": layers, "totals": totals,
    }


def _m(v):
    return f"{v / 1e6:.3f}M"


def format_compare(r):
    sr, sc = r["arrays"]["sad"]
    mr, mc = r["arrays"]["mac"]
    head = (f"{r['network']}, batch {r['batch']}, {r['width']}-bit: AdderNet on {a_an(sr)} {sr}x{sc} SAD array "
            f"(multiplier layers on {a_an(sr)} {sr}x{sc} MAC array) vs CNN on {a_an(mr)} {mr}x{mc} MAC array. "
            f"Energy: {r['energy_source']}.")
    def cells(name, shape, a, c):
        return [name, shape, _m(a["mul"]), _m(a["add"]), _m(c["mul"]), a["cycles"], c["cycles"],
                f"{a['utilisation']:.1%}", f"{c['utilisation']:.1%}", f"{a['energy_pj'] / 1e6:.3f}",
                f"{c['energy_pj'] / 1e6:.3f}"]
    rows = [cells(l["name"] + ("" if l["adder"] else " (mul)"), f"{l['T']}x{l['K']}x{l['P']}", l["addernet"], l["cnn"])
            for l in r["layers"]]
    a, c = r["totals"]["addernet"], r["totals"]["cnn"]
    rows.append(cells("**total**", "", a, c))
    lines = [head, "", markdown_table(
        ["layer", "T x K x P", "AdderNet #Mul", "AdderNet #Add", "CNN #Mul = #Add", "cycles AdderNet", "cycles CNN",
         "util AdderNet", "util CNN", "energy AdderNet (uJ, est.)", "energy CNN (uJ, est.)"], rows, "ll" + "r" * 9)]
    lines += ["", f"Cycles AdderNet / CNN: {a['cycles'] / c['cycles']:.3f}; "
              f"estimated arithmetic energy AdderNet / CNN: {a['energy_pj'] / c['energy_pj']:.3f}."]
    if "time_us" in a or "time_us" in c:
        fa = f"{a['fmax_mhz']:.1f} MHz -> {a['time_us']:.1f} us" if "time_us" in a else "no report"
        fc = f"{c['fmax_mhz']:.1f} MHz -> {c['time_us']:.1f} us" if "time_us" in c else "no report"
        lines.append(f"Time at Fmax: AdderNet {fa}; CNN {fc}.")
    return "\n".join(lines)


def plot_compare(r, path):
    """PNG: where the cycles go and how well the PEs are used, then the estimated energy, per layer.

    Equal arrays take equal cycles on both designs (the PEs have the same latency), so a pair of
    identical cycle bars would say nothing: the top panel then draws one bar per layer (which
    layers dominate the run time) with the utilisation of each layer on a second axis (where the
    array idles: short K below the drain gap, a classifier with few outputs). When the designs
    differ (``--sad-rows``/``--sad-cols``, iso-area) it draws both. The bottom panel compares the
    arithmetic energy, where the designs differ.
    """
    plt = pyplot()
    layers = r["layers"]
    names = [l["name"] for l in layers]
    x = np.arange(len(names))
    same = all(l["addernet"]["cycles"] == l["cnn"]["cycles"] for l in layers)
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.45 * len(names) + 3), 7.5), sharex=True)
    top, bottom = axes
    colors = {"addernet": "C0", "cnn": "C1"}
    if same:
        top.bar(x, [l["cnn"]["cycles"] for l in layers], 0.6, color="0.6", label="cycles, both designs")
    else:
        for design, dx, label in (("addernet", -0.2, "cycles, AdderNet"), ("cnn", 0.2, "cycles, CNN")):
            top.bar(x + dx, [l[design]["cycles"] for l in layers], 0.4, color=colors[design], label=label)
    top.set_ylabel("cycles")
    top.set_ylim(0, 1.3 * max(max(l["addernet"]["cycles"], l["cnn"]["cycles"]) for l in layers))  # room for the legend
    top.grid(axis="y", alpha=0.3)
    util = top.twinx()
    for design in (("cnn",) if same else ("addernet", "cnn")):
        label = "utilisation" + ("" if same else (", AdderNet" if design == "addernet" else ", CNN"))
        util.plot(x, [100 * l[design]["utilisation"] for l in layers], "o-", ms=4, color="C3" if same else
                  colors[design], label=label)
    util.set_ylim(0, 130)
    util.set_yticks(range(0, 101, 20))
    util.set_ylabel("utilisation (%)")
    for i, l in enumerate(layers if same else ()):            # one line: name the layers that idle
        u = 100 * l["cnn"]["utilisation"]
        if u < 99:
            util.annotate(f"{u:.1f} %", (i, u), textcoords="offset points", xytext=(0, -13 if u > 20 else 9),
                          ha="center", fontsize=7, color="C3")
    handles = top.get_legend_handles_labels()[0] + util.get_legend_handles_labels()[0]
    top.legend(handles, [h.get_label() for h in handles], loc="upper left", ncol=len(handles), fontsize=8)
    sr, sc = r["arrays"]["sad"]
    mr, mc = r["arrays"]["mac"]
    arrays = (f"{sr}x{sc} arrays" if (sr, sc) == (mr, mc) else f"SAD {sr}x{sc}, MAC {mr}x{mc}")
    top.set_title(f"{r['network']}, {arrays}, {r['width']}-bit: cycles per layer"
                  + (" (equal on both designs)" if same else "") + " and utilisation")
    for design, dx, label in (("addernet", -0.2, "AdderNet (SAD)"), ("cnn", 0.2, "CNN (MAC)")):
        bottom.bar(x + dx, [l[design]["energy_pj"] * 1e-6 for l in layers], 0.4, color=colors[design], label=label)
    bottom.set_ylabel("energy (uJ, est.)")
    bottom.set_ylim(0, 1.25 * max(l[d]["energy_pj"] * 1e-6 for l in layers for d in ("addernet", "cnn")))
    bottom.grid(axis="y", alpha=0.3)
    bottom.legend(loc="upper left", ncol=2, fontsize=8)
    t = r["totals"]
    bottom.set_title(f"arithmetic energy (Horowitz 45 nm estimate): AdderNet / CNN = "
                     f"{t['addernet']['energy_pj'] / t['cnn']['energy_pj']:.3f} in total")
    bottom.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
