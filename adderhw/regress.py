"""``adderhw regress``: many random GEMM cases through a simulator, fanned out over an executor.

Each case draws an array (R and C from 1 to 4, width 2 to 16, SAD or MAC, MAC pipelines of 1 to
3 stages), a GEMM (T, K, P; K up to the array's k_max), signed operands with the extremes
sprinkled in, and a stall probability (no stalls in about a third of the cases). The cases are
drawn here, on the client, from one seed, so a seed names the same cases on every executor. One
job runs one case with ``run_gemm`` and checks it against the golden model bit for bit and,
without stalls, against the cycle model exactly; with stalls the cycles must exceed the model's.

The jobs go to a local process pool (``jobs``) or to a Dask cluster (``scheduler``, see
:mod:`adderhw.base.executor`); the result is the same list either way. ``partial`` (a path)
receives the results so far after every case. ``mutation`` (``hw.mutation``) runs every case
on an array with that deliberate bug, to show that the regression catches it.
"""
import json
import time
from concurrent.futures import FIRST_COMPLETED, wait
from pathlib import Path

import numpy as np

from adderhw.base.simulators import SIMULATORS
from adderhw.base.pe_kind import PE_KINDS, pe_kind
from adderhw.base.config import ArrayConfig
from adderhw.base.errors import BadParameter
from adderhw.base.executor import make_executor
from adderhw.base.tables import markdown_table
from adderhw.golden.cycles import gemm_cycles
from adderhw.golden.gemm import GEMMS
from adderhw.hw.mutation import check_mutation, mutated
from adderhw.sim.gemm import run_gemm

__all__ = ["draw_cases", "run_case", "regress_gemm", "format_regress"]

BACKENDS = SIMULATORS


def draw_cases(n, seed=0):
    """``n`` cases as dicts (array, shape, stall probability, operands as lists), from ``seed``."""
    cases = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        rows, cols = (int(v) for v in rng.integers(1, 5, 2))
        width = int(rng.choice([2, 4, 6, 8, 12, 16]))
        pe = str(rng.choice(list(PE_KINDS)))
        k = int(rng.integers(1, 33))
        k_max = int(k + rng.integers(0, 8))
        t, p = (int(v) for v in rng.integers(1, 2 * max(rows, cols) + 3, 2))
        stall = 0.0 if rng.random() < 0.35 else float(np.round(rng.uniform(0.05, 0.5), 2))
        lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
        a = rng.integers(lo, hi + 1, (t, k))
        b = rng.integers(lo, hi + 1, (k, p))
        a[rng.random((t, k)) < 0.15] = lo
        b[rng.random((k, p)) < 0.15] = hi
        cases.append({"case": i, "rows": rows, "cols": cols, "width": width, "pe": pe, "k_max": k_max,
                      "mul_stages": int(rng.integers(1, 4)) if pe_kind(pe).has_multiplier else 1,
                      "t": t, "k": k, "p": p, "stall_prob": stall, "stall_seed": int(rng.integers(0, 1 << 16)),
                      "a": a.tolist(), "b": b.tolist()})
    return cases


def run_case(case, backend="amaranth", mutation=None):
    """Run one case (a job: it may run in another process or on another machine); returns its
    result dict without the operands. ``mutation``: the array's deliberate bug, if any."""
    cfg = ArrayConfig(rows=case["rows"], cols=case["cols"], width=case["width"], k_max=case["k_max"],
                      pe=case["pe"], mul_stages=case["mul_stages"])
    a, b = np.array(case["a"], dtype=np.int64), np.array(case["b"], dtype=np.int64)
    # run_gemm builds the array (or its Verilog) itself: the mutation reaches it through the block
    with mutated(mutation):
        y, cycles = run_gemm(cfg, a, b, backend=backend, seed=case["stall_seed"], stall_prob=case["stall_prob"])
    gold = GEMMS[cfg.pe](a, b, width=cfg.width)
    model = gemm_cycles(cfg, case["t"], case["k"], case["p"])
    exact = bool(np.array_equal(y, gold))
    cycles_ok = cycles == model if case["stall_prob"] == 0 else cycles > model
    out = {k: v for k, v in case.items() if k not in ("a", "b")}
    out.update(backend=backend, bit_exact=exact, mismatches=int(np.count_nonzero(y != gold)), cycles=int(cycles),
               model_cycles=int(model), cycles_ok=bool(cycles_ok), passed=exact and bool(cycles_ok))
    return out


def _summary(results, n, seed, backend, mutation, where, seconds, complete):
    done = [results[i] for i in sorted(results)]
    return {"seed": seed, "cases": n, "backend": backend, **({"mutation": mutation} if mutation else {}),
            "where": where, "complete": complete,
            "passed": sum(r["passed"] for r in done), "failed": sum(not r["passed"] for r in done),
            "seconds": round(seconds, 1), "results": done}


def regress_gemm(cases=40, seed=0, backend="amaranth", jobs=None, scheduler=None, progress=None, partial=None,
                 mutation=None):
    """Run ``cases`` random GEMM cases (see the module docstring); returns the JSON-ready result.
    ``cases`` may also be a list of cases in :func:`draw_cases`'s form, to run those instead.
    ``mutation``: one of ``hw.mutation.MUTATIONS``, to run every case on that broken array (the
    result then names it)."""
    if isinstance(cases, list) and cases:
        drawn = cases
    elif isinstance(cases, int) and not isinstance(cases, bool) and cases >= 1:
        drawn = draw_cases(cases, seed)
    else:
        raise BadParameter(f"cases must be a positive integer (or a list of drawn cases), not {cases!r}")
    if backend not in BACKENDS:
        raise BadParameter(f"backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    mutation = check_mutation(mutation)
    say = progress or (lambda m: None)
    cases = len(drawn)
    results = {}
    t0 = time.monotonic()
    with make_executor(jobs, scheduler, progress=say) as pool:
        pending = {pool.submit(run_case, c, backend, mutation): c["case"] for c in drawn}
        note = f"; MUTATION {mutation} (failures expected)" if mutation else ""
        say(f"{cases} GEMM cases on {backend}, seed {seed}, on {pool.where}{note}")
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                pending.pop(f)
                r = f.result()
                results[r["case"]] = r
                failed = sum(not x["passed"] for x in results.values())
                say(f"[case {r['case']}] {r['rows']}x{r['cols']} {r['pe'].upper()} w{r['width']} "
                    f"T{r['t']} K{r['k']} P{r['p']} stalls {r['stall_prob']:g}: "
                    + ("pass" if r["passed"] else "FAIL") + f", {r['cycles']} cycles (model {r['model_cycles']})"
                    + f" | {pool.status(len(results), len(pending), {'passed': len(results) - failed, 'failed': failed})}")
                if partial:
                    doc = _summary(results, cases, seed, backend, mutation, pool.where, time.monotonic() - t0, complete=False)
                    Path(partial).write_text(json.dumps(doc, indent=1) + "\n")
        where = pool.where
    return _summary(results, cases, seed, backend, mutation, where, time.monotonic() - t0, complete=True)


def format_regress(r):
    rows = [[x["case"], f"{x['rows']}x{x['cols']}", x["pe"].upper(), x["width"], f"{x['t']}x{x['k']}x{x['p']}",
             f"{x['stall_prob']:g}", x["cycles"], x["model_cycles"], "pass" if x["passed"] else
             f"FAIL ({x['mismatches']} values differ)" if not x["bit_exact"] else "FAIL (cycles)"]
            for x in r["results"]]
    on = f"{r['backend']}, MUTATION {r['mutation']}" if r.get("mutation") else r["backend"]
    head = (f"{r['cases']} random GEMM cases on {on} (seed {r['seed']}), on {r['where']}: "
            f"{r['passed']} passed, {r['failed']} failed, {r['seconds']:g} s.")
    return "\n".join([head, "", markdown_table(
        ["case", "array", "PE", "width", "T x K x P", "stalls", "cycles", "model", "result"], rows, "rlllllrrl")])
