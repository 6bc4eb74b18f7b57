import hashlib
import json
from pathlib import Path

import amaranth
import pytest
from amaranth.back import rtlil

from adderhw.base.errors import BadParameter
from adderhw.hw import ArrayConfig, SystolicArray, generate_verilog
from adderhw.hw.mutation import MUTATIONS, current_mutation, mutated

BASELINE = json.loads((Path(__file__).parent / "baselines" / "rtlil_sha256.json").read_text())


def rtlil_of(config, **kwargs):
    return rtlil.convert(SystolicArray(config, **kwargs), name="adder_array", emit_src=False)


def test_unknown_mutation_is_refused():
    message = "^mutation must be one of acc-short, drain-skips-row, ready-ignores-backpressure, not 'acc-long'$"
    with pytest.raises(BadParameter, match=message):
        SystolicArray(ArrayConfig(rows=1, cols=1, width=4, k_max=3), mutation="acc-long")
    with pytest.raises(BadParameter, match=message):
        with mutated("acc-long"):
            pass
    assert current_mutation() is None


@pytest.mark.parametrize("entry", BASELINE["designs"], ids=lambda e: "{rows}x{cols}-{pe}-w{width}".format(**e["config"]))
def test_without_a_mutation_the_design_is_the_one_before_the_hooks(entry, monkeypatch):
    # The hooks and the names the formal spec reads must not change a single byte of the design.
    if amaranth.__version__ != BASELINE["amaranth"]:
        pytest.skip(f"baseline recorded with Amaranth {BASELINE['amaranth']}, not {amaranth.__version__}")
    cfg = ArrayConfig(**entry["config"])
    text = rtlil_of(cfg)
    assert hashlib.sha256(text.encode()).hexdigest() == entry["rtlil_sha256"]
    assert rtlil_of(cfg, mutation="") == text       # empty counts as none
    with mutated(None):
        assert rtlil_of(cfg) == text
    # the process environment is no switch: the old variable changes nothing
    monkeypatch.setenv("ADDERHW_MUTATE", "acc-short")
    assert rtlil_of(cfg) == text


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_mutation_changes_the_design(name):
    cfg = ArrayConfig(rows=2, cols=2, width=4, k_max=3)
    clean, mutant = rtlil_of(cfg), rtlil_of(cfg, mutation=name)
    assert mutant != clean
    # a block reaches the arrays that code inside it builds (generate_verilog's), and only while it lasts
    clean_verilog = generate_verilog(cfg)
    with mutated(name):
        assert rtlil_of(cfg) == mutant
        assert generate_verilog(cfg) != clean_verilog
        with mutated(None):
            assert rtlil_of(cfg) == clean
    assert rtlil_of(cfg) == clean and generate_verilog(cfg) == clean_verilog
