"""A behavioural Verilog model of the ECP5's MULT18X18D, for simulating ECP5 board-build Verilog.

The open tools have none (Yosys ships the cell as a black box), so this one is written here from
Lattice TN1267 (ECP5 and ECP5-5G sysDSP Usage Guide), for the modes that hw.dsp uses:

* P (36 bits) = A x B (18 bits each); A is two's complement when SIGNEDA is high, else unsigned;
  likewise B with SIGNEDB.
* Input registers (A with SIGNEDA, B with SIGNEDB), a pipeline register after the multiplier and
  an output register, each present when its ``REG_*_CLK`` parameter is "CLK0" and absent
  (combinational) when it is "NONE". A present register loads on the rising edge of CLK0 when CE0
  is high and is cleared when RST0 is high (synchronous, RESETMODE "SYNC").
* Anything else (another clock, an asynchronous reset, SOURCEA/SOURCEB shifting, MULT_BYPASS) is
  refused with ``$fatal`` at time 0, not modelled wrongly.

The model is the project's reading of the data sheet, not Lattice's model; a test
(tests/sim/test_dsp.py) runs the array Verilog that an ECP5 build elaborates with it against
golden, which checks the wiring of hw.dsp under that reading.
"""

__all__ = ["mult18x18d_model"]


def _ports(prefix, n):
    return ", ".join(f"{prefix}{i}" for i in range(n))


def _bus(prefix, n):
    return "{" + ", ".join(f"{prefix}{i}" for i in reversed(range(n))) + "}"


def mult18x18d_model():
    """Verilog-2005 text of module ``MULT18X18D`` (the ports that hw.dsp connects)."""
    inputs = ", ".join([_ports("A", 18), _ports("B", 18), _ports("C", 18),
                        "SIGNEDA, SIGNEDB, SOURCEA, SOURCEB", "CLK0, CE0, RST0"])
    return f"""// Behavioural model of the Lattice ECP5 MULT18X18D (adderhw, sim/dsp_model.py; see there)
module MULT18X18D({inputs}, {_ports("P", 36)});
    input {inputs};
    output {_ports("P", 36)};
    parameter REG_INPUTA_CLK = "NONE";
    parameter REG_INPUTB_CLK = "NONE";
    parameter REG_PIPELINE_CLK = "NONE";
    parameter REG_OUTPUT_CLK = "NONE";
    parameter GSR = "ENABLED";
    parameter RESETMODE = "SYNC";
    parameter MULT_BYPASS = "DISABLED";

    initial begin
        if ((REG_INPUTA_CLK != "NONE" && REG_INPUTA_CLK != "CLK0")
                || (REG_INPUTB_CLK != "NONE" && REG_INPUTB_CLK != "CLK0")
                || (REG_PIPELINE_CLK != "NONE" && REG_PIPELINE_CLK != "CLK0")
                || (REG_OUTPUT_CLK != "NONE" && REG_OUTPUT_CLK != "CLK0"))
            $fatal(1, "MULT18X18D model: only CLK0 or NONE are modelled for the REG_*_CLK parameters");
        if (RESETMODE != "SYNC" || MULT_BYPASS != "DISABLED")
            $fatal(1, "MULT18X18D model: only RESETMODE SYNC without MULT_BYPASS is modelled");
    end

    wire [17:0] a = {_bus("A", 18)};
    wire [17:0] b = {_bus("B", 18)};
    reg [17:0] a_r = 18'd0, b_r = 18'd0;
    reg sa_r = 1'b0, sb_r = 1'b0;
    always @(posedge CLK0) if (CE0) begin
        a_r <= RST0 ? 18'd0 : a;
        b_r <= RST0 ? 18'd0 : b;
        sa_r <= RST0 ? 1'b0 : SIGNEDA;
        sb_r <= RST0 ? 1'b0 : SIGNEDB;
    end
    wire [17:0] a_in = (REG_INPUTA_CLK == "NONE") ? a : a_r;
    wire [17:0] b_in = (REG_INPUTB_CLK == "NONE") ? b : b_r;
    wire sa = (REG_INPUTA_CLK == "NONE") ? SIGNEDA : sa_r;
    wire sb = (REG_INPUTB_CLK == "NONE") ? SIGNEDB : sb_r;
    // both operands extended to 36 bits by their own signedness, then a 36-bit product
    wire [35:0] a_ext = {{{{18{{sa & a_in[17]}}}}, a_in}};
    wire [35:0] b_ext = {{{{18{{sb & b_in[17]}}}}, b_in}};
    wire [35:0] prod = a_ext * b_ext;

    reg [35:0] pipe_r = 36'd0, out_r = 36'd0;
    wire [35:0] pipe = (REG_PIPELINE_CLK == "NONE") ? prod : pipe_r;
    always @(posedge CLK0) if (CE0) begin
        pipe_r <= RST0 ? 36'd0 : prod;
        out_r <= RST0 ? 36'd0 : pipe;
    end
    assign {_bus("P", 36)} = (REG_OUTPUT_CLK == "NONE") ? pipe : out_r;
endmodule
"""
