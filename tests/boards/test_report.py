"""The tool-report parsers on real nextpnr and Yosys output (stored fixtures), and the baseline check."""
import json
from pathlib import Path

import pytest

from adderhw.base.errors import ToolFailed
from adderhw.boards.bench import check_baseline
from adderhw.boards.report import overflow, parse_nextpnr, parse_yosys_stat

FIXTURES = Path(__file__).with_name("fixtures")


def _load(case, name):
    return json.loads((FIXTURES / case / name).read_text())


def test_ice40_reports_parse_to_the_numbers_in_the_files():
    pnr = _load("ice40_sad_2x2", "report_nextpnr.json")
    stat = _load("ice40_sad_2x2", "stat.json")
    got = parse_nextpnr(pnr, "ice40")
    # independent reading of the same files: the raw utilisation entries and the cell table
    assert got["logic"] == {"cell": "ICESTORM_LC", **pnr["utilization"]["ICESTORM_LC"]}
    assert got["dsp"]["used"] == 0 and got["dsp"]["available"] == 8
    assert got["fmax_mhz"] == min(c["achieved"] for c in pnr["fmax"].values())
    cells = stat["design"]["num_cells_by_type"]
    counts = parse_yosys_stat(stat, "ice40")
    assert counts["luts"] == cells["SB_LUT4"]
    assert counts["ffs"] == sum(n for c, n in cells.items() if c.startswith("SB_DFF"))
    assert counts["carry_cells"] == cells["SB_CARRY"]
    # and the report that adderhw build wrote from them at the time
    expect = _load("ice40_sad_2x2", "report_expected.json")
    assert (counts["luts"], counts["ffs"], got["logic"]["used"]) == (expect["luts"], expect["ffs"],
                                                                      expect["logic"]["used"])


def test_ice40up5k_spram_blocks_are_counted_apart_from_the_block_rams():
    # the iCEBreaker 1x1 digits engine with its weights in SPRAM (adderhw build --top engine --board
    # icebreaker --network digits --rows 1 --cols 1 --first-last adder --requant shift --seed 1)
    pnr = _load("ice40_engine_spram", "report_nextpnr.json")
    got = parse_nextpnr(pnr, "ice40")
    assert got["spram"] == {"cell": "ICESTORM_SPRAM", "used": 1, "available": 4}
    assert got["bram"] == {"cell": "ICESTORM_RAM", "used": 12, "available": 30}
    # an array build on the same device: none used; an iCE40 report without the cell (the HX8K): 0 of 0
    assert parse_nextpnr(_load("ice40_sad_2x2", "report_nextpnr.json"), "ice40")["spram"]["used"] == 0
    del pnr["utilization"]["ICESTORM_SPRAM"]
    assert parse_nextpnr(pnr, "ice40")["spram"] == {"cell": "ICESTORM_SPRAM", "used": 0, "available": 0}


def test_ecp5_reports_parse_to_the_numbers_in_the_files():
    pnr = _load("ecp5_mac_2x2", "report_nextpnr.json")
    stat = _load("ecp5_mac_2x2", "stat.json")
    got = parse_nextpnr(pnr, "ecp5")
    assert got["logic"] == {"cell": "TRELLIS_COMB", **pnr["utilization"]["TRELLIS_COMB"]}
    assert got["dsp"] == {"cell": "MULT18X18D", **pnr["utilization"]["MULT18X18D"]}
    assert got["dsp"]["used"] == 4                     # the 2x2 MAC's multipliers went to DSP blocks
    assert got["spram"] == {"cell": None, "used": 0, "available": 0}      # the ECP5 has no SPRAM
    cells = stat["design"]["num_cells_by_type"]
    counts = parse_yosys_stat(stat, "ecp5")
    assert counts["luts"] == cells.get("LUT4", 0)
    assert counts["ffs"] == cells.get("TRELLIS_FF", 0)
    assert counts["carry_cells"] == cells.get("CCU2C", 0)


def test_a_report_without_a_clock_is_a_tool_failure():
    with pytest.raises(ToolFailed, match="no clock"):
        parse_nextpnr({"utilization": {}, "fmax": {}}, "ice40")


def test_overflow_reads_nextpnr_utilisation_lines():
    log = "Info: Device utilisation:\nInfo: \t  ICESTORM_LC:  6017/  5280   113%\n"
    assert overflow(log, "ICESTORM_LC") == ("ICESTORM_LC", 6017, 5280)
    assert overflow("Info: \t  ICESTORM_LC:  100/  5280   1%\n", "ICESTORM_LC") is None


BASELINE = {"tolerance": {"luts_per_pe": 0.05, "ffs_per_pe": 0.05, "fmax_mhz": 0.15},
            "rows": [{"board": "icebreaker", "variant": "sad", "luts_per_pe": 40.0, "ffs_per_pe": 60.0,
                      "fmax_mhz": 60.0}]}


@pytest.mark.parametrize("luts, ffs, fmax, failures", [
    (40.0, 60.0, 60.0, 0), (41.9, 62.9, 51.1, 0),          # within tolerance
    (30.0, 40.0, 90.0, 0),                                 # smaller and faster is welcome
    (42.1, 60.0, 60.0, 1), (40.0, 63.1, 60.0, 1), (40.0, 60.0, 50.9, 1), (50.0, 70.0, 40.0, 3)])
def test_the_baseline_check_fails_a_bigger_or_slower_pe(luts, ffs, fmax, failures):
    result = {"rows": [{"board": "icebreaker", "variant": "sad", "luts_per_pe": luts, "ffs_per_pe": ffs,
                        "fmax_mhz": fmax}]}
    assert len(check_baseline(result, BASELINE)) == failures


def test_the_critical_path_is_the_longest_clock_to_clock_path_of_the_report():
    # the fixtures' paths, read by hand: on the iCE40 harness the longest register-to-register path
    # runs through the K counter's carry chain (14.831 ns, 11 logic segments); the path to the LED
    # pin (<async>) is left out even where it were longer
    ice = parse_nextpnr(_load("ice40_sad_2x2", "report_nextpnr.json"), "ice40")["critical_path"]
    assert ice == {"from_cell": "k_SB_DFFESR_Q_7_D_SB_LUT4_O_LC", "to_cell": "k_SB_DFFESR_Q_1_D_SB_LUT4_O_LC",
                   "delay_ns": 14.831, "logic_levels": 11}
    ecp = parse_nextpnr(_load("ecp5_mac_2x2", "report_nextpnr.json"), "ecp5")["critical_path"]
    assert (ecp["from_cell"], ecp["to_cell"]) == ("array.i_filter__payload_TRELLIS_FF_Q",
                                                  "array.pe_0_0.prod_TRELLIS_FF_Q_3")
    assert ecp["delay_ns"] == 6.989 and ecp["logic_levels"] == 1
    only_pins = {"utilization": {}, "fmax": {"c": {"achieved": 50.0}},
                 "critical_paths": [{"from": "<async>", "to": "posedge c",
                                     "path": [{"delay": 9.0, "type": "logic", "from": {"cell": "a"}, "to": {"cell": "b"}}]}]}
    assert parse_nextpnr(only_pins, "ice40")["critical_path"] is None
