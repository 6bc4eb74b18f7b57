import hashlib
import json
from pathlib import Path

import amaranth
import pytest
from amaranth.back import rtlil

from adderhw.base.errors import BadParameter
from adderhw.hw import ArrayConfig, SystolicArray, generate_verilog
from adderhw.hw.mutation import ENV_VAR, MUTATIONS

BASELINE = json.loads((Path(__file__).parent / "baselines" / "rtlil_sha256.json").read_text())


def rtlil_of(config):
    return rtlil.convert(SystolicArray(config), name="adder_array", emit_src=False)


def test_unknown_mutation_is_refused(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "acc-long")
    with pytest.raises(BadParameter, match="ADDERHW_MUTATE must be one of acc-short, .* not 'acc-long'"):
        generate_verilog(ArrayConfig(rows=1, cols=1, width=4, k_max=3))


@pytest.mark.parametrize("entry", BASELINE["designs"], ids=lambda e: "{rows}x{cols}-{pe}-w{width}".format(**e["config"]))
def test_without_the_variable_the_design_is_the_one_before_the_hooks(entry, monkeypatch):
    # The hooks and the names the formal spec reads must not change a single byte of the design.
    if amaranth.__version__ != BASELINE["amaranth"]:
        pytest.skip(f"baseline recorded with Amaranth {BASELINE['amaranth']}, not {amaranth.__version__}")
    monkeypatch.delenv(ENV_VAR, raising=False)
    text = rtlil_of(ArrayConfig(**entry["config"]))
    assert hashlib.sha256(text.encode()).hexdigest() == entry["rtlil_sha256"]
    monkeypatch.setenv(ENV_VAR, "")                  # empty counts as unset
    assert rtlil_of(ArrayConfig(**entry["config"])) == text


@pytest.mark.parametrize("name", MUTATIONS)
def test_each_mutation_changes_the_verilog(name, monkeypatch):
    cfg = ArrayConfig(rows=2, cols=2, width=4, k_max=3)
    monkeypatch.delenv(ENV_VAR, raising=False)
    clean = generate_verilog(cfg)
    monkeypatch.setenv(ENV_VAR, name)
    assert generate_verilog(cfg) != clean
