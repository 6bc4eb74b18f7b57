import json

import pytest

from adderhw.base.errors import BadParameter
from adderhw.cli import main
from adderhw.quantise import QuantiseConfig, format_quantise, run_quantise


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
