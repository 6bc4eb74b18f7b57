"""End to end on real data, small: train a tiny AdderNet on the digits, quantise it, run its adder
layers through the generated Verilog, and hold every value to the golden model."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from adderhw.golden.addernet import (ADDER_LAYERS, DigitsNet, FixedPointAdders, accuracy, layer_label, load_digits_data,
                                     predict, train)
from adderhw.base.config import ArrayConfig
from adderhw.digits import HardwareRuns, hardware_inference, _hw_width, _scales, format_digits, plot_digits


@pytest.fixture(scope="module")
def tiny():
    data = load_digits_data(seed=1)
    model = DigitsNet(adder=True, channels=(4, 8, 8), compiled=False)
    train(model, data, epochs=2, seed=1)
    return data, model


def test_data_is_the_real_digits_split(tiny):
    data, _ = tiny
    assert data.x_train.shape[1:] == (1, 8, 8) and len(data.y_train) + len(data.y_test) == 1797
    assert 0.0 <= data.x_train.min() and data.x_train.max() <= 1.0
    assert sorted(set(data.y_test.tolist())) == list(range(10))


def test_adder_layers_on_verilog_equal_golden_bit_for_bit(tiny):
    data, model = tiny
    fp = FixedPointAdders(model, 8, data.x_train[:128], keep=True)
    cfg = ArrayConfig(rows=4, cols=4, width=8, k_max=72, pe="sad")
    runs = HardwareRuns()
    x = data.x_test[:6]
    logits_hw = hardware_inference(model, cfg, fp, x, "verilator", 3, runs, lambda m: None)
    logits_golden = predict(model, x, layer_fn=fp)
    assert runs.mismatches == 0
    assert np.array_equal(logits_hw, logits_golden)           # same integers in, same logits out
    assert {name for _, name, *_ in runs.cycles} == set(ADDER_LAYERS)
    assert all(measured == model_cycles for *_, measured, model_cycles in runs.cycles)
    # the golden records hold real integers within the width, and the layer really ran
    xq, wq, yq = fp.records["add1"][0]
    assert xq.dtype == np.int64 and np.abs(wq).max() <= 127 and (yq <= 0).all()


def test_fixed_point_accuracy_tracks_float_at_16_bits(tiny):
    data, model = tiny
    float_acc = accuracy(model, data.x_test, data.y_test)
    fixed_acc = accuracy(model, data.x_test, data.y_test, FixedPointAdders(model, 16, data.x_train[:128]))
    assert abs(fixed_acc - float_acc) <= 0.02


def test_the_cnn_twin_reports_its_layers_as_convolutions():
    # the twin's convolutions sit where the adder layers are (add1, add2 in code): conv2 and conv3
    data = load_digits_data(seed=1)
    model = DigitsNet(adder=False, channels=(2, 4, 4), compiled=False)
    fp = FixedPointAdders(model, 8, data.x_train[:64])
    cfg = ArrayConfig(rows=4, cols=4, width=8, k_max=36, pe="mac")
    runs, said = HardwareRuns(), []
    logits = hardware_inference(model, cfg, fp, data.x_test[:2], "amaranth", 2, runs, said.append)
    assert np.array_equal(logits, predict(model, data.x_test[:2], layer_fn=fp))
    assert [name for _, name, *_ in runs.cycles] == ["conv2", "conv3"] and runs.mismatches == 0
    assert said == ["  amaranth: conv2 on 2 images, MAC array: bit-exact against golden",
                    "  amaranth: conv3 on 2 images, MAC array: bit-exact against golden"]
    assert [layer_label(n, adder=True) for n in ADDER_LAYERS] == ["add1", "add2"]


RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


def test_the_committed_results_render_in_either_config_form(tmp_path):
    # results written before the config carried the whole array have rows, cols and hw_width instead
    # of "array"; the report and the plot read both forms
    new = json.loads((RESULTS / "digits.json").read_text())
    assert new["config"]["array"]["width"] == 8
    old = {**new, "config": {**{k: v for k, v in new["config"].items() if k != "array"},
                             "rows": 8, "cols": 8, "hw_width": new["config"]["array"]["width"]}}
    assert _hw_width(old["config"]) == _hw_width(new["config"]) == 8
    eight = next(f for f in new["fixed_point"] if f["width"] == 8)
    scales = ", ".join(f"{name} 2^{-bits}" for name, bits in eight["frac_bits"].items())
    for r in (old, new):
        text = format_digits(r)
        assert (f"| AdderNet, adder layers 8-bit fixed point (golden) | {100 * eight['accuracy']:.2f}% (scales {scales}; "
                f"{eight['saturated']} saturated) |") in text
        assert "| AdderNet, 8-bit, adder layers on the RTL (Amaranth sim, 4 images) |" in text
        png = tmp_path / "digits.png"
        plot_digits(r, png)
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert struct.unpack(">II", data[16:24]) == (1210, 506)          # 11 x 4.6 inches at 110 dpi


def test_scales_read_as_powers_of_two():
    assert _scales({"add1": 3, "add2": 2}) == "add1 2^-3, add2 2^-2"
    assert _scales({"add1": -2, "add2": 0}) == "add1 2^2, add2 2^0"        # 4 bits: a step of 4


def test_the_plot_of_a_poorly_trained_run_has_a_zoom_too(tmp_path):
    # every fixed-point result far below both floats (1 epoch): the zoom follows the fixed-point
    # results instead of looking for widths near the floats (there are none; this used to raise)
    r = json.loads((RESULTS / "digits.json").read_text())
    for f in r["fixed_point"]:
        f["accuracy"] = 0.1
    r["hardware"]["AdderNet"]["verilator"].update(accuracy=0.0, golden_accuracy=0.0)
    plot_digits(r, tmp_path / "digits.png")
    assert struct.unpack(">II", (tmp_path / "digits.png").read_bytes()[16:24]) == (1210, 506)


def test_a_layers_chunks_on_a_local_dask_cluster_give_the_same_logits_and_cycles(tiny):
    from adderhw.base.executor import DaskExecutor
    data, model = tiny
    fp = FixedPointAdders(model, 8, data.x_train[:128])
    cfg = ArrayConfig(rows=4, cols=4, width=8, k_max=72, pe="sad")
    x = data.x_test[:12]
    here, there = HardwareRuns(), HardwareRuns()
    logits_here = hardware_inference(model, cfg, fp, x, "verilator", 4, here, lambda m: None)
    with DaskExecutor("local:2") as cluster:                  # 3 chunks of 4 images per layer, 2 workers
        logits_there = hardware_inference(model, cfg, fp, x, "verilator", 4, there, lambda m: None, executor=cluster)
    assert np.array_equal(logits_there, logits_here) and np.array_equal(logits_here, predict(model, x, layer_fn=fp))
    assert there.cycles == here.cycles and len(there.cycles) == 3 * len(ADDER_LAYERS) and there.mismatches == 0
