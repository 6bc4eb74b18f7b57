"""Waveform files: the suffix chooses the format on every backend, and what a backend cannot write
is refused before anything is built or simulated."""
import math
import struct

import numpy as np
import pytest

from adderhw.base.errors import BadParameter, ToolMissingError
from adderhw.hw import ArrayConfig
from adderhw.sim import run_gemm
from tests.sim.cases import operands
from tests.sim.test_gemm import golden_for

CFG = ArrayConfig(rows=1, cols=2, width=4, k_max=2)
WRITERS = [("amaranth", "vcd"), ("icarus", "vcd"), ("icarus", "fst"), ("verilator", "vcd"), ("verilator", "fst")]


def is_vcd(data):
    # VCD is text: a header of $-keywords (Amaranth opens with $comment, Icarus with $date, Verilator
    # with $version), the variable declarations, then the value changes
    return (data.startswith((b"$comment", b"$date", b"$version")) and b"$enddefinitions" in data
            and b"$timescale" in data and b"i_filter__valid" in data)


def is_fst(data):
    # FST is binary: block type 0 (the header block) of length 329, and at byte 25 the endianness
    # probe, the double e in the writer's byte order
    return (data[0] == 0 and int.from_bytes(data[1:9], "big") == 329
            and struct.unpack("<d", data[25:33])[0] == math.e)


@pytest.mark.parametrize("backend,fmt", WRITERS, ids=[f"{b}-{f}" for b, f in WRITERS])
def test_the_suffix_chooses_the_format(backend, fmt, tmp_path):
    a, b = operands(CFG, 1, 2, 2, seed=0)
    path = tmp_path / f"run.{fmt}"
    y, _ = run_gemm(CFG, a, b, backend=backend, waves=path)
    data = path.read_bytes()
    assert is_fst(data) if fmt == "fst" else is_vcd(data)
    assert not (is_vcd(data) if fmt == "fst" else is_fst(data))
    assert np.array_equal(y, golden_for(CFG, a, b))


@pytest.fixture
def no_simulation(monkeypatch):
    """Make any build or simulation fail the test, so a refusal is seen to come first."""
    def forbidden(*args, **kwargs):
        raise AssertionError("a simulation started")
    monkeypatch.setattr("adderhw.sim.gemm.GemmPlan.build", forbidden)


@pytest.mark.parametrize("name,backend,msg", [
    ("run.fst", "amaranth", "waves names '{d}/run.fst', but amaranth's simulator writes VCD only; name a .vcd file"),
    ("run.wav", "icarus", "waves must name a .vcd or .fst file, not '{d}/run.wav'"),
    ("run.ghw", "verilator", "waves must name a .vcd or .fst file, not '{d}/run.ghw'"),
    ("missing/run.vcd", "amaranth", "waves names '{d}/missing/run.vcd', whose directory '{d}/missing' does not exist"),
    ("missing/run.vcd", "icarus", "waves names '{d}/missing/run.vcd', whose directory '{d}/missing' does not exist"),
    ("missing/run.fst", "verilator", "waves names '{d}/missing/run.fst', whose directory '{d}/missing' does not exist"),
])
def test_bad_names_are_refused_before_any_work(name, backend, msg, tmp_path, no_simulation):
    a, b = operands(CFG, 1, 2, 2, seed=0)
    with pytest.raises(BadParameter) as info:
        run_gemm(CFG, a, b, backend=backend, waves=tmp_path / name)
    assert str(info.value) == msg.format(d=tmp_path)


def test_verilator_fst_without_its_libraries_says_how_to_install_them(tmp_path, monkeypatch):
    # a fresh cache forces a build; the probe stands in for a machine without liblz4-dev
    monkeypatch.setenv("ADDERHW_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("adderhw.sim.toolchain.fst_libraries_present", lambda: False)
    a, b = operands(CFG, 1, 2, 2, seed=0)
    with pytest.raises(ToolMissingError, match="apt-get install -y liblz4-dev zlib1g-dev, or name a .vcd file"):
        run_gemm(CFG, a, b, backend="verilator", waves=tmp_path / "run.fst")
    assert not (tmp_path / "run.fst").exists()

