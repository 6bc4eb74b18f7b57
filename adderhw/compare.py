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
    """PNG: per-layer cycles and estimated energy, AdderNet vs CNN."""
    plt = pyplot()
    import numpy as np
    names = [l["name"] for l in r["layers"]]
    x = np.arange(len(names))
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.45 * len(names) + 3), 7), sharex=True)
    for ax, key, scale, label in ((axes[0], "cycles", 1, "cycles"), (axes[1], "energy_pj", 1e-6, "energy (uJ, est.)")):
        ax.bar(x - 0.2, [l["addernet"][key] * scale for l in r["layers"]], 0.4, label="AdderNet (SAD)")
        ax.bar(x + 0.2, [l["cnn"][key] * scale for l in r["layers"]], 0.4, label="CNN (MAC)")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    axes[0].legend()
    axes[0].set_title(f"{r['network']}: per-layer cycles and arithmetic energy (Horowitz 45 nm estimate)")
    axes[1].set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
