import json

import pytest

from adderhw.base.errors import BadParameter
from adderhw.cli import main
from adderhw.quantise import QuantiseConfig, format_quantise, run_quantise
from adderhw.quantise_rtl import QuantiseRtlConfig


@pytest.mark.parametrize("kw,msg", [({"networks": ("cifar",)}, "networks"), ({"widths": (1,)}, "width"),
                                    ({"seeds": (-1,)}, "seed"), ({"qat_epochs": 0}, "qat_epochs")])
def test_config_refusals(kw, msg):
    with pytest.raises(BadParameter, match=msg):
        QuantiseConfig(**kw)


def test_cli_refuses_a_bad_width_list(capsys):
    assert main(["quantise", "--widths", "4,x"]) != 0
    assert "--widths" in capsys.readouterr().err


def test_small_run_is_reproducible_and_resumes(tmp_path):
    conf = QuantiseConfig(networks=("digits",), seeds=(0,), widths=(6,), digits_epochs=2, qat_epochs=1)
    a = run_quantise(conf, out_dir=tmp_path / "a")
    b = run_quantise(conf, out_dir=tmp_path / "b")
    assert a["runs"]["digits/0"]["widths"] == b["runs"]["digits/0"]["widths"]
    assert a["runs"]["digits/0"]["float"] == b["runs"]["digits/0"]["float"]
    # a resumed run reads the partial results instead of training again
    partial = json.loads((tmp_path / "a" / "quantise.partial.json").read_text())
    partial["runs"]["digits/0"]["float"]["AdderNet"] = 0.5
    (tmp_path / "a" / "quantise.partial.json").write_text(json.dumps(partial))
    c = run_quantise(conf, out_dir=tmp_path / "a")
    assert c["summary"]["digits"]["float"]["AdderNet"]["mean"] == 0.5
    md = format_quantise(a)
    assert "6 bits" in md and "AdderNet, QAT" in md
    assert (tmp_path / "a" / "quantise.png").stat().st_size > 0


@pytest.mark.parametrize("kw,msg", [({"widths": (1,)}, "rtl width"), ({"widths": ()}, "rtl widths"),
                                    ({"backend": "ghdl"}, "rtl backend"), ({"images": -1}, "images")])
def test_rtl_config_refusals(kw, msg):
    with pytest.raises(BadParameter, match=msg):
        QuantiseRtlConfig(**kw)


def test_the_4_bit_qat_models_run_bit_exact_through_the_verilog_array(tmp_path):
    conf = QuantiseConfig(networks=("digits",), seeds=(0,), widths=(4,), digits_epochs=2, qat_epochs=1)
    # one simulator chunk of the 449 test images (the whole set took 393 s of the suite's time, most of
    # it in Verilator; `adderhw quantise --rtl-widths 4` runs the whole set)
    rtl = QuantiseRtlConfig(widths=(4,), epochs=2, qat_epochs=1, rows=8, cols=4, images=150)
    r = run_quantise(conf, out_dir=tmp_path, rtl=rtl)
    rows = {row["method"]: row for row in r["rtl"]["rows"]}
    assert set(rows) == {"qat", "qat-group"}
    # one scale per layer, and one per group of 8 of the 16 output channels
    assert all(isinstance(f, int) for f in rows["qat"]["fracs"].values())
    assert all(len(f) == 2 for f in rows["qat-group"]["fracs"].values())
    for method, row in rows.items():
        assert row["width"] == 4 and row["images"] == 150 and row["test_images"] == 449
        assert "4-bit operands" in row["array"]
        assert row["mismatches"] == 0 and row["hardware_accuracy"] == row["golden_accuracy"]
        # both adder layers ran on every image (each group as its own run), in the modelled cycles
        groups = 2 if method == "qat-group" else 1
        assert {c["layer"] for c in row["cycles"]} == {"add1", "add2"}
        assert sum(c["images"] for c in row["cycles"]) == 2 * groups * 150
        assert all(c["measured"] == c["model"] for c in row["cycles"]) and row["cycles_equal_model"]
        # the sweep's accuracy (of the whole test set) is not set beside a part of it
        assert row["sweep_accuracy"] is None and 0 < r["runs"]["digits/0"]["widths"]["4"][method] <= 1
    md = (tmp_path / "quantise.md").read_text()
    assert "through the Verilog SAD array" in md and "--rtl-widths 4" in md and "per group" in md
