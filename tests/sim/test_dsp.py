"""The MAC array as an ECP5 board build elaborates it (MULT18X18D with its own registers, hw.dsp),
simulated with the project's MULT18X18D model (sim.dsp_model) against golden and the cycle model,
and against the generic Verilog under the same stalls."""
import re

import numpy as np
import pytest

from adderhw.base.errors import BadParameter
from adderhw.golden.cycles import gemm_cycles
from adderhw.hw import ArrayConfig
from adderhw.hw.dsp import DSP_PARAMETERS
from adderhw.hw.verilog import generate_verilog
from adderhw.sim import run_gemm
from tests.sim.cases import operands
from tests.sim.test_gemm import golden_for


def _instances(verilog):
    """(parameter text) of every MULT18X18D instance in ``verilog``."""
    return re.findall(r"MULT18X18D #\((.*?)\)\s*\w+\s*\(", verilog, flags=re.S)


@pytest.mark.parametrize("stages", [1, 2, 3])
def test_ecp5_dsp_verilog_has_one_registered_block_per_pe(stages):
    cfg = ArrayConfig(rows=2, cols=3, width=8, k_max=9, pe="mac", mul_stages=stages)
    blocks = _instances(generate_verilog(cfg, target="ecp5-dsp"))
    assert len(blocks) == 6
    for params in blocks:
        set_regs = set(re.findall(r"\.(REG_\w+_CLK)\(\"CLK0\"\)", params))
        assert set_regs == set(DSP_PARAMETERS[stages])
    assert "MULT18X18D" not in generate_verilog(cfg)                  # generic: plain operators
    # the SAD array has no multiplier: the target changes nothing
    sad = ArrayConfig(rows=2, cols=3, width=8, k_max=9)
    assert generate_verilog(sad, target="ecp5-dsp") == generate_verilog(sad)


# (config, T, K, P, stall probability, backend)
CASES = [
    (ArrayConfig(rows=3, cols=4, width=8, k_max=20, pe="mac", mul_stages=1), 7, 20, 9, 0.25, "icarus"),
    (ArrayConfig(rows=3, cols=4, width=8, k_max=20, pe="mac", mul_stages=2), 7, 20, 9, 0.25, "icarus"),
    (ArrayConfig(rows=2, cols=2, width=16, k_max=12, pe="mac", mul_stages=3), 5, 12, 3, 0.3, "icarus"),
    (ArrayConfig(rows=2, cols=3, width=8, k_max=144, pe="mac", mul_stages=2), 4, 144, 5, 0.0, "verilator"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].rows}x{c[0].cols}-w{c[0].width}-ms{c[0].mul_stages}-{c[5]}")
def test_ecp5_dsp_array_matches_golden_and_the_cycle_model(case):
    cfg, T, K, P, stall, backend = case
    a, b = operands(cfg, T, K, P, seed=K)
    a[0, :] = -(1 << (cfg.width - 1))          # the most negative products, both signs of them
    b[:, 0] = -(1 << (cfg.width - 1))
    b[:, 1] = (1 << (cfg.width - 1)) - 1
    y, cycles = run_gemm(cfg, a, b, backend=backend, seed=7, stall_prob=stall, target="ecp5-dsp")
    assert np.array_equal(y, golden_for(cfg, a, b))
    if stall == 0.0:
        assert cycles == gemm_cycles(cfg, T, K, P)
    else:
        # the same seeded stalls on the generic Verilog (Icarus builds it in a second or two)
        assert cycles == run_gemm(cfg, a, b, backend=backend, seed=7, stall_prob=stall)[1]


def test_target_errors():
    cfg = ArrayConfig(rows=1, cols=1, width=8, k_max=4, pe="mac", mul_stages=2)
    a, b = np.ones((1, 4), dtype=np.int64), np.ones((4, 1), dtype=np.int64)
    with pytest.raises(BadParameter, match="target must be one of generic, ecp5-dsp, not 'xilinx'"):
        generate_verilog(cfg, target="xilinx")
    with pytest.raises(BadParameter, match="needs a Verilog backend"):
        run_gemm(cfg, a, b, backend="amaranth", target="ecp5-dsp")


def _run_model(tmp_path, params, body):
    """Compile the MULT18X18D model with a small Icarus testbench; returns vvp's output."""
    import subprocess
    from adderhw.sim.dsp_model import mult18x18d_model
    ports = ", ".join([f".A{i}(a[{i}])" for i in range(18)] + [f".B{i}(b[{i}])" for i in range(18)]
                      + [f".C{i}(1'b0)" for i in range(18)] + [f".P{i}(p[{i}])" for i in range(36)])
    tb = f"""module tb;
    reg [17:0] a = 0, b = 0; reg sa = 1, sb = 1, clk = 0; wire [35:0] p;
    MULT18X18D #({params}) dut({ports}, .SIGNEDA(sa), .SIGNEDB(sb), .SOURCEA(1'b0), .SOURCEB(1'b0),
                                .CLK0(clk), .CE0(1'b1), .RST0(1'b0));
    initial begin
{body}
        $finish;
    end
endmodule
"""
    (tmp_path / "m.v").write_text(mult18x18d_model())
    (tmp_path / "tb.v").write_text(tb)
    subprocess.run(["iverilog", "-g2012", "-o", str(tmp_path / "tb.vvp"), str(tmp_path / "m.v"), str(tmp_path / "tb.v")],
                   check=True, capture_output=True)
    return subprocess.run(["vvp", "-n", str(tmp_path / "tb.vvp")], capture_output=True, text=True).stdout


def test_the_cell_model_multiplies_as_the_data_sheet_says(tmp_path):
    # combinational (every REG_*_CLK "NONE"): signed and unsigned products against Python's
    cases = [(-5, 7, 1, 1), (-(1 << 17), -(1 << 17), 1, 1), ((1 << 17) - 1, -(1 << 17), 1, 1),
             (0x3FFFB, 7, 0, 1), (0x3FFFF, 0x3FFFF, 0, 0), (12345, -321, 1, 1)]
    body = "\n".join(f"        a = 18'd{x & 0x3FFFF}; b = 18'd{y & 0x3FFFF}; sa = {s}; sb = {t}; #1 "
                     f'$display("%0d", p);' for x, y, s, t in cases)
    got = [int(v) for v in _run_model(tmp_path, '.REG_INPUTA_CLK("NONE")', body).split()]
    expect = []
    for x, y, s, t in cases:
        ax = x if s else x & 0x3FFFF
        by = y if t else y & 0x3FFFF
        expect.append((ax * by) & ((1 << 36) - 1))
    assert got == expect


def test_the_cell_model_refuses_what_it_does_not_model(tmp_path):
    out = _run_model(tmp_path, '.REG_INPUTA_CLK("CLK1")', "        #1;")
    assert "only CLK0 or NONE are modelled" in out
