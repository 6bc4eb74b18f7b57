"""The generated Verilog on Icarus and Verilator (through cocotb) against golden, the Amaranth
simulator and the PyTorch reference: identical results and identical cycle counts."""
import numpy as np
import pytest
import torch

from adderhw.golden import choose_frac_bits, dequantize, im2col, quantize
from adderhw.golden.cycles import gemm_cycles
from adderhw.golden.reference import adder2d_torch
from adderhw.hw import ArrayConfig
from adderhw.sim import run_gemm
from adderhw.sim import cocotb_sim
from adderhw.sim.cocotb_sim import SimulationMismatch, array_sources, model_key
from adderhw.sim.plan import GemmPlan
from tests.sim.cases import operands
from tests.sim.test_gemm import golden_for

VERILOG = ["icarus", "verilator"]


@pytest.fixture
def wrong_expectation(monkeypatch):
    """Golden's first expected output beat one too large in lane 0: a deliberately wrong
    expectation, which the cocotb scoreboard (it gets golden's beats in its job) must catch."""
    honest = GemmPlan.expected_words

    def off_by_one(plan):
        words = honest(plan)
        lane = (1 << plan.config.acc_width) - 1         # lane 0: the low acc_width bits, wrapping as packed
        words[0] = words[0] & ~lane | (words[0] + 1) & lane
        return words
    monkeypatch.setattr(GemmPlan, "expected_words", off_by_one)

# (config, T, K, P, stall probability): widths 4, 8, 16; arrays 1x1 to 8x8; both PEs; K 1 to 1152
CONFIGS = [
    (ArrayConfig(rows=1, cols=1, width=4, k_max=4, pe="sad"), 3, 1, 2, 0.0),
    (ArrayConfig(rows=2, cols=3, width=8, k_max=9, pe="mac"), 5, 9, 7, 0.3),
    (ArrayConfig(rows=3, cols=2, width=4, k_max=16, pe="sad"), 4, 2, 5, 0.4),
    (ArrayConfig(rows=4, cols=4, width=16, k_max=37, pe="sad"), 5, 37, 6, 0.25),
    (ArrayConfig(rows=4, cols=4, width=8, k_max=144, pe="mac"), 6, 144, 5, 0.0),
    (ArrayConfig(rows=2, cols=2, width=8, k_max=20, pe="mac", mul_stages=3), 3, 20, 3, 0.2),
    (ArrayConfig(rows=8, cols=8, width=16, k_max=64, pe="mac"), 9, 64, 9, 0.2),
    (ArrayConfig(rows=8, cols=8, width=8, k_max=1152, pe="sad"), 8, 1152, 10, 0.0),
    # the SAD PE whose first stage is the operand registers (hw.pe): same results and cycles
    (ArrayConfig(rows=3, cols=2, width=8, k_max=16, pe="sad", sad_stage="operands"), 4, 16, 5, 0.3),
    (ArrayConfig(rows=4, cols=4, width=8, k_max=144, pe="sad", sad_stage="operands"), 6, 144, 5, 0.0),
    # skew lanes of 4 cycles and more in RAM rings (hw.skew), on both PEs: same results and cycles
    (ArrayConfig(rows=6, cols=5, width=8, k_max=24, pe="sad", skew="memory"), 13, 24, 11, 0.3),
    (ArrayConfig(rows=5, cols=7, width=8, k_max=9, pe="mac", skew="memory"), 6, 9, 15, 0.0),
    # the broadcast dataflow (hw.array), on both PEs, K below and above its drain gap R + S + 2
    (ArrayConfig(rows=4, cols=8, width=8, k_max=144, pe="sad", dataflow="broadcast"), 9, 144, 19, 0.0),
    (ArrayConfig(rows=8, cols=4, width=8, k_max=16, pe="sad", dataflow="broadcast"), 11, 3, 6, 0.3),
    (ArrayConfig(rows=3, cols=2, width=8, k_max=20, pe="mac", mul_stages=3, dataflow="broadcast"), 4, 20, 5, 0.2),
    (ArrayConfig(rows=2, cols=5, width=6, k_max=12, pe="mac", mul_stages=2, dataflow="broadcast"), 3, 12, 11, 0.3),
    (ArrayConfig(rows=1, cols=1, width=16, k_max=9, pe="sad", dataflow="broadcast"), 2, 1, 3, 0.0),
]


def cid(case):
    cfg, T, K, P, stall = case
    return (f"{cfg.pe}-{cfg.rows}x{cfg.cols}-w{cfg.width}-K{K}-s{stall}"
            + ("" if cfg.sad_stage == "difference" else f"-{cfg.sad_stage}")
            + ("" if cfg.skew == "registers" else f"-skew-{cfg.skew}")
            + ("" if cfg.dataflow == "systolic" else f"-{cfg.dataflow}"))


@pytest.mark.parametrize("case", CONFIGS, ids=cid)
def test_three_backends_agree_bit_for_bit_and_cycle_for_cycle(case):
    cfg, T, K, P, stall = case
    a, b = operands(cfg, T, K, P, seed=K)
    runs = {be: run_gemm(cfg, a, b, backend=be, seed=5, stall_prob=stall) for be in ["amaranth", *VERILOG]}
    expect = golden_for(cfg, a, b)
    for be, (y, _) in runs.items():
        assert np.array_equal(y, expect), be
    cycles = {be: c for be, (_, c) in runs.items()}
    assert len(set(cycles.values())) == 1, cycles
    if stall == 0.0:
        assert cycles["verilator"] == gemm_cycles(cfg, T, K, P)


@pytest.mark.parametrize("backend", VERILOG)
def test_python_driver_and_hdl_harness_agree(backend):
    # the per-cycle cocotb driver and the HDL harness see the same seeded stalls
    cfg = ArrayConfig(rows=2, cols=3, width=8, k_max=9, pe="sad")
    a, b = operands(cfg, 5, 9, 7, seed=1)
    y1, c1 = run_gemm(cfg, a, b, backend=backend, seed=9, stall_prob=0.3, driver="harness")
    y2, c2 = run_gemm(cfg, a, b, backend=backend, seed=9, stall_prob=0.3, driver="cocotb")
    assert np.array_equal(y1, y2) and np.array_equal(y1, golden_for(cfg, a, b))
    assert c1 == c2


@pytest.mark.parametrize("driver", ["harness", "cocotb"])
@pytest.mark.parametrize("backend", VERILOG)
def test_a_wrong_expectation_fails_the_test(backend, driver, wrong_expectation):
    cfg = ArrayConfig(rows=2, cols=2, width=4, k_max=3)
    a, b = operands(cfg, 2, 3, 2, seed=0)
    with pytest.raises(SimulationMismatch, match="output beat 0 differs from golden"):
        run_gemm(cfg, a, b, backend=backend, driver=driver)


@pytest.mark.parametrize("backend", VERILOG)
@pytest.mark.parametrize("stride,padding", [(1, 1), (2, 0)])
def test_adder_layer_through_verilog_equals_pytorch_reference(backend, stride, padding):
    rng = np.random.default_rng(stride * 10 + padding)
    x = rng.standard_normal((2, 3, 7, 7))
    w = rng.standard_normal((5, 3, 3, 3)) * 0.5
    width = 8
    frac = choose_frac_bits([x, w], width)
    xq, _ = quantize(x, width, frac)
    wq, _ = quantize(w, width, frac)
    cols = im2col(xq, 3, 3, stride, padding)                      # (K, N·Ho·Wo)
    cfg = ArrayConfig(rows=4, cols=4, width=width, k_max=27)
    sad, _ = run_gemm(cfg, wq.reshape(5, -1), cols, backend=backend, seed=2, stall_prob=0.1)
    ho = (7 + 2 * padding - 3) // stride + 1
    y_hw = dequantize(-sad, frac).reshape(5, 2, ho, ho).transpose(1, 0, 2, 3)
    y_ref = adder2d_torch(torch.tensor(dequantize(xq, frac)), torch.tensor(dequantize(wq, frac)),
                          stride, padding).numpy()
    assert np.array_equal(y_hw, y_ref)



def test_the_first_verilator_build_says_so_once(tmp_path, monkeypatch):
    # a fresh cache: the first run builds the model and says where it is cached, the second reuses it
    monkeypatch.setenv("ADDERHW_CACHE", str(tmp_path))
    cfg = ArrayConfig(rows=1, cols=1, width=4, k_max=2)
    a, b = operands(cfg, 1, 2, 1, seed=0)
    said = []
    for _ in range(2):
        y, _ = run_gemm(cfg, a, b, backend="verilator", progress=said.append)
        assert np.array_equal(y, golden_for(cfg, a, b))
    assert said == [f"building the Verilator model of the {cfg.describe()} (a minute or so, once: it is cached in "
                    f"{tmp_path / 'sim' / 'verilator'})"]


# the harness memories `adderhw quantise --rtl-widths 4` asks of its 8x8 SAD array, in its order:
# QAT with one scale per layer (layers add1, add2), then with one per group of channels (a tile of
# rows each, so fewer beats per run); all four used to be four Verilator builds of one design
QUANTISE_DEPTHS = [(262144, 32768, 2), (131072, 8192, 2), (131072, 16384, 2), (65536, 4096, 2)]


def test_jobs_of_every_size_have_one_model_key():
    cfg = ArrayConfig(rows=2, cols=2, width=4, k_max=144, pe="sad", mul_stages=1)
    harnesses, keys = set(), set()
    for depths in QUANTISE_DEPTHS:
        files, top, memories = array_sources(cfg, "verilator", depths=depths)
        harnesses.add(memories.text(memories.need))
        keys.add(model_key(files, top, "verilator", memories=memories))
    assert len(harnesses) == 4              # the harness Verilog differs: its memories hold each job
    assert len(keys) == 1
    for other in (cfg.with_(width=6), cfg.with_(rows=3)):   # and the key still follows the design
        files, top, memories = array_sources(other, "verilator", depths=QUANTISE_DEPTHS[0])
        assert model_key(files, top, "verilator", memories=memories) not in keys


def test_one_model_serves_jobs_of_every_size(tmp_path, monkeypatch):
    # no simulator is built: the runner and the model build are stand-ins that record their calls
    monkeypatch.setenv("ADDERHW_CACHE", str(tmp_path))
    built, registered = [], []

    class Runner:
        def build(self, sources, build_dir, always, **kwargs):
            registered.append((build_dir, [p.name for p in sources], always))

    def build_model(runner, backend, build_dir, files, sources, top, args, waves, progress, what):
        build_dir.mkdir(parents=True)
        for name, text in files.items():
            (build_dir / name).write_text(text)
        built.append(build_dir)

    monkeypatch.setattr(cocotb_sim, "_runner", lambda backend: Runner())
    monkeypatch.setattr(cocotb_sim, "_build_model", build_model)
    cfg = ArrayConfig(rows=2, cols=2, width=4, k_max=144, pe="sad", mul_stages=1)
    dirs = [cocotb_sim.build(cfg, "verilator", depths=d)[1] for d in QUANTISE_DEPTHS]
    assert built == [dirs[0]] and set(dirs) == {dirs[0]}        # one build serves all four
    assert dirs[0].name == "d262144-32768-2" and "fmem [0:262143]" in (dirs[0] / "adderhw_tb.v").read_text()
    assert registered == [(dirs[0], ["adder_array.v", "adderhw_tb.v"], False)] * 3
    # a job that fits no model (random stalls need a deep stall table) builds one as deep as both
    deeper = cocotb_sim.build(cfg, "verilator", depths=(16384, 4096, 1 << 18))[1]
    assert built == [dirs[0], deeper] and deeper.name == "d262144-32768-262144"
    # a stall-free job still takes the shallowest model that holds it
    assert cocotb_sim.build(cfg, "verilator", depths=QUANTISE_DEPTHS[3])[1] == dirs[0]


def test_a_deeper_model_runs_a_smaller_job_on_icarus(tmp_path, monkeypatch):
    monkeypatch.setenv("ADDERHW_CACHE", str(tmp_path))
    cfg = ArrayConfig(rows=1, cols=1, width=4, k_max=4)
    for t, k, p in ((1, 4, 4100), (2, 3, 2)):      # 16,400 input beats (memories of 2^15), then 6
        a, b = operands(cfg, t, k, p, seed=k)
        y, _ = run_gemm(cfg, a, b, backend="icarus")
        assert np.array_equal(y, golden_for(cfg, a, b))
    models = [d for d in (tmp_path / "sim" / "icarus").glob("*/d*") if (d / "adderhw.built").exists()]
    assert [d.name for d in models] == ["d32768-8192-2"]
