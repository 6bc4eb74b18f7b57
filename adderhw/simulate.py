"""``adderhw simulate`` and ``adderhw bench sim``: one GEMM on a chosen simulator, checked and timed."""
import time

import numpy as np

from adderhw.golden.gemm import GEMMS
from adderhw.golden.cycles import gemm_cycles
from adderhw.base.errors import BadParameter
from adderhw.base.tables import markdown_table
from adderhw.base.validate import check_int, int_range

from adderhw.sim.cocotb_sim import SimulationMismatch
from adderhw.sim.gemm import BACKENDS, run_gemm

__all__ = ["simulate", "load_operands", "format_report", "bench_sim", "format_bench"]

#: the first bytes of every .npy file (NumPy's format specification)
_NPY_MAGIC = b"\x93NUMPY"


def _load_operand(option, path):
    """A 2-D integer array from a .npy file, or one sentence saying what is wrong with the file."""
    try:
        with open(path, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
    except FileNotFoundError:
        raise BadParameter(f"{option} names {str(path)!r}, which does not exist") from None
    except IsADirectoryError:
        raise BadParameter(f"{option} names {str(path)!r}, which is a directory, not a .npy file") from None
    except OSError as exc:
        raise BadParameter(f"{option} names {str(path)!r}, which cannot be read ({exc.strerror})") from None
    if magic != _NPY_MAGIC:
        raise BadParameter(f"{option} names {str(path)!r}, which is not a .npy file (write it with numpy.save)")
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise BadParameter(f"{option} {str(path)!r} is not a readable .npy array ({str(exc).rstrip('.')})") from None
    if arr.ndim != 2:
        raise BadParameter(f"{option} {str(path)!r} must hold a 2-D array, not one of shape {arr.shape}")
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise BadParameter(f"{option} {str(path)!r} must hold integers, not {arr.dtype} values "
                           f"(quantise floats first with golden.quantize)")
    return arr


def load_operands(a_path, b_path):
    """(a, b): the operands of ``adderhw simulate --a A.npy --b B.npy`` (T x K and K x P integers)."""
    if a_path is None or b_path is None:
        raise BadParameter("give both --a and --b, or neither (then random operands are drawn)")
    return _load_operand("--a", a_path), _load_operand("--b", b_path)


def _operands(config, T, K, P, seed, a=None, b=None):
    if a is not None or b is not None:
        if a is None or b is None:
            raise BadParameter("give both a and b, or neither (then random operands are drawn)")
        return a, b
    T, K, P = check_int("T", T, lo=1), check_int("K", K, lo=1), check_int("P", P, lo=1)
    rng = np.random.default_rng(seed)
    lo, hi = int_range(config.width)
    return rng.integers(lo, hi + 1, (T, K)), rng.integers(lo, hi + 1, (K, P))


def simulate(config, backend, T=None, K=None, P=None, seed=0, stall_prob=0.0, waves=None, a=None, b=None,
             driver=None, progress=None, target="generic"):
    """Run one GEMM; returns a report dict (``passed`` is the bit-exact comparison with golden).
    ``target``: the Verilog to simulate on icarus/verilator (hw.verilog.TARGETS, sim.gemm.run_gemm).

    The operands are ``a`` (T x K) and ``b`` (K x P) when given (see :func:`load_operands`), else
    drawn at random from ``seed`` with the shape T x K x P. ``progress`` receives one-line notes
    (a Verilator model's first build).
    """
    seed = check_int("seed", seed, lo=0)
    a, b = _operands(config, T, K, P, seed, a, b)
    info = {}
    t0 = time.perf_counter()
    try:
        y, cycles = run_gemm(config, a, b, backend=backend, seed=seed, stall_prob=stall_prob, waves=waves,
                             driver=driver, info=info, progress=progress, target=target)
        expect = GEMMS[config.pe](a, b, width=config.width)
        mismatches = int(np.count_nonzero(y != expect))
        detail = None
    except SimulationMismatch as exc:
        cycles, mismatches, detail = None, None, str(exc)
    wall = time.perf_counter() - t0
    T, K, P = a.shape[0], a.shape[1], b.shape[1]
    model = gemm_cycles(config, T, K, P)
    sim_s = info.get("sim_seconds")
    return {
        "config": config.describe(), "backend": backend, **({"target": target} if target != "generic" else {}), "T": T, "K": K, "P": P, "seed": seed,
        "stall_prob": stall_prob, "passed": mismatches == 0, "mismatches": mismatches, "detail": detail,
        "cycles": cycles, "model_cycles": model, "wall_seconds": wall, "sim_seconds": sim_s,
        "cycles_per_second": (cycles / sim_s) if cycles and sim_s else None,
    }


def format_report(r):
    status = "PASS" if r["passed"] else "FAIL"
    lines = [f"{status}: {r['config']}",
             f"  {r['backend']}" + (f" ({r['target']} Verilog, MULT18X18D model)" if "target" in r else "")
             + f": T={r['T']} K={r['K']} P={r['P']}, seed {r['seed']}, stall probability {r['stall_prob']}"]
    if r["passed"]:
        note = "equals the cycle model" if r["cycles"] == r["model_cycles"] else (
            f"cycle model without stalls: {r['model_cycles']}")
        lines.append(f"  result bit-exact against golden; {r['cycles']} cycles ({note})")
        if r["cycles_per_second"]:
            lines.append(f"  {r['cycles_per_second']:,.0f} simulated cycles per second "
                         f"({r['sim_seconds']:.2f} s simulating, {r['wall_seconds']:.1f} s in all)")
    elif r["detail"]:
        lines.append("  " + r["detail"].replace("\n", "\n  "))
    else:
        lines.append(f"  {r['mismatches']} of {r['T'] * r['P']} results differ from golden")
    return "\n".join(lines)


#: (backend, T, K, P): sized so each run simulates long enough to be timed, in seconds
_BENCH_SIZES = {"amaranth": (16, 288, 16), "icarus": (16, 288, 16), "verilator": (64, 1152, 64)}


def bench_sim(config, backends=BACKENDS, progress=None):
    rows = []
    for i, be in enumerate(backends):
        T, K, P = _BENCH_SIZES[be]
        for stall in (0.0, 0.2):
            if progress:
                progress(f"[{len(rows) + 1}/{2 * len(backends)}] {be}: T={T} K={K} P={P}, stalls {stall}")
            r = simulate(config.with_(k_max=max(config.k_max, K)), be, T, K, P, seed=1, stall_prob=stall,
                         progress=progress)
            if not r["passed"]:
                raise BadParameter(f"bench sim: {be} did not match golden: {r['detail'] or r['mismatches']}")
            rows.append(r)
    base = {r["stall_prob"]: r["cycles_per_second"] for r in rows if r["backend"] == "amaranth"}
    for r in rows:
        b = base.get(r["stall_prob"])
        r["x_amaranth"] = r["cycles_per_second"] / b if b else None
    return {"config": config.describe(), "runs": rows, "goal": {"verilator_cycles_per_second": 100_000}}


def format_bench(result):
    lines = [f"Simulated cycles per second, {result['config']}; time of the simulation proper "
             "(no build, no process start-up), best of one run each, all in this run.", "",
             markdown_table(["backend", "stalls", "T x K x P", "cycles", "sim s", "cycles/s", "x Amaranth"],
                            [[r["backend"], r["stall_prob"], f"{r['T']}x{r['K']}x{r['P']}", r["cycles"],
                              f"{r['sim_seconds']:.2f}", f"{r['cycles_per_second']:,.0f}",
                              f"{r['x_amaranth']:.1f}" if r.get("x_amaranth") else "-"] for r in result["runs"]],
                            "lrlrrrr")]
    lines += ["", f"Goal: Verilator >= {result['goal']['verilator_cycles_per_second']:,} cycles/s."]
    return "\n".join(lines)
