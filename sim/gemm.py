"""``run_gemm``: one call that runs a GEMM on the array in any simulator backend."""

from adderhw.base.config import check_config
from adderhw.base.errors import BadParameter
from adderhw.golden.cycles import drain_gap
from adderhw.hw.verilog import check_target

from . import amaranth_sim, cocotb_sim
from .plan import GemmPlan
from adderhw.base.simulators import SIMULATORS, check_simulator
from .stalls import StallPattern
from .waves import waves_format

__all__ = ["run_gemm", "BACKENDS"]

BACKENDS = SIMULATORS


def _max_cycles(plan, stalls):
    cfg = plan.config
    g = drain_gap(cfg) + 1
    bound = sum(k + g for k in plan.tile_ks) + 100 + len(stalls.script or ())
    return int(bound / max(1e-3, (1 - stalls.prob) ** 2)) * 4 + 2000


def run_gemm(config, a, b, backend="amaranth", seed=None, stall_prob=0.0, waves=None, driver=None,
             scoreboard=True, info=None, split_k=False, stalls=None, progress=None, target="generic"):
    """Run ``a`` (T x K) · ``b`` (K x P) through the array described by ``config``.

    The SAD array computes Σ_k |a - b| (golden.sad_gemm), the MAC twin Σ_k a·b (golden.mac_gemm).
    K must not exceed ``config.k_max`` unless ``split_k``: then K is cut into chunks that stream
    back to back and the host adds their partial sums (see sim.plan). T and P are tiled onto
    R x C tiles.
    ``stalls`` (a :class:`~adderhw.sim.stalls.StallPattern`, e.g. with a ``script``) replaces
    ``stall_prob`` and ``seed`` when given.
    ``stall_prob`` > 0 inserts seeded random valid/ready stalls on all three streams (and bursts of
    output backpressure); ``seed`` makes them repeatable. ``waves`` names a waveform file to write;
    its suffix chooses the format: ``.vcd`` on every backend, ``.fst`` on Icarus and Verilator
    (see sim.waves).
    Verilog backends only: ``driver`` is "harness" (HDL stream driver, fast; the default) or
    "cocotb" (Python driver every cycle); Amaranth's simulator has one driver, so naming one there
    is refused rather than ignored. With ``scoreboard`` the cocotb test itself compares every
    output beat with golden and fails on a mismatch.
    ``progress``: a function that receives one-line messages (the first build of a Verilator
    model says that it takes a while and is cached afterwards).
    ``target``: Verilog backends only: the Verilog to simulate (hw.verilog.TARGETS): "ecp5-dsp"
    is the array as an ECP5 board build with DSP blocks elaborates it, with the project's
    MULT18X18D model (sim.dsp_model).
    ``info``: a dict that receives ``sim_seconds``, the wall time of the simulation proper
    (without building, process start-up or file transfer).

    Returns (result as int64 (T, P), cycles), where cycles counts from the first cycle with
    input offered to the cycle that accepts the last output beat, inclusive.
    """
    check_simulator(backend, BACKENDS)
    check_config(config)
    if backend == "amaranth" and driver is not None:
        raise BadParameter(f"driver {driver!r} applies to the Verilog backends (icarus, verilator) only; "
                           f"Amaranth's simulator drives the streams itself")
    waves_format(waves, backend)             # refuses a bad name before any work
    check_target(target)
    if backend == "amaranth" and target != "generic":
        raise BadParameter(f"target {target!r} needs a Verilog backend (icarus, verilator): it instantiates "
                           f"vendor cells that only the Verilog model of sim.dsp_model simulates")
    plan = GemmPlan.build(config, a, b, split_k=split_k)
    if stalls is None:
        stalls = StallPattern(stall_prob, seed)
    limit = _max_cycles(plan, stalls)
    if backend == "amaranth":
        rows, cycles = amaranth_sim.run_plan(plan, stalls, limit, waves, info=info)
    else:
        expect = plan.expected_words() if scoreboard else None
        rows, cycles = cocotb_sim.run_plan(plan, stalls, limit, backend, waves, seed, driver=driver or "harness",
                                expect=expect, info=info, progress=progress, target=target)
    return plan.assemble(rows), cycles
