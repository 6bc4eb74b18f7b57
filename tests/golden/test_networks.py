import json

import pytest

from adderhw.golden import AdderhwError
from adderhw.base.config import ArrayConfig
from adderhw.compare import compare_network
from adderhw.golden.energy import term_energy_pj
from adderhw.golden.networks import NETWORKS, load_network, network


def test_resnet20_counts_by_hand():
    net = network("resnet20")
    assert len([l for l in net.layers if l.adder]) == 20        # 18 block convs + 2 shortcut 1x1
    assert not net.layers[0].adder and not net.layers[-1].adder
    # CNN MACs: stage convs + shortcuts + first conv + classifier, counted by hand
    stage1 = 6 * 16 * 16 * 9 * 32 * 32
    stage2 = 16 * 32 * 9 * 16 * 16 + 5 * 32 * 32 * 9 * 16 * 16 + 16 * 32 * 16 * 16
    stage3 = 32 * 64 * 9 * 8 * 8 + 5 * 64 * 64 * 9 * 8 * 8 + 32 * 64 * 8 * 8
    first, fc = 3 * 16 * 9 * 32 * 32, 64 * 10
    total = stage1 + stage2 + stage3 + first + fc
    assert net.mul_add(cnn=True) == (total, total)
    # AdderNet: only first and last multiply; an adder term counts two additions
    assert net.mul_add() == (first + fc, 2 * (total - first - fc) + first + fc)


def test_resnet32_matches_the_paper_cnn_count():
    # Chen et al. 2020, Table 2: ResNet-32 CNN #Mul 69.12M
    assert round(network("resnet32").mul_add(cnn=True)[0] / 1e6, 2) == 69.12


def test_every_builtin_network_has_sane_layers():
    for name in NETWORKS:
        net = network(name)
        assert net.layers and all(l.out_hw[0] >= 1 for l in net.layers)


def test_resnet20_on_8x8_is_well_utilised():
    r = compare_network(network("resnet20"), ArrayConfig(rows=8, cols=8, width=8))
    assert r["totals"]["addernet"]["utilisation"] >= 0.95
    adder_layers = [l for l in r["layers"] if l["adder"]]
    G = 2 * 8 + 8 + 2 - 1                     # 2R + C + S - 1 (shift-chain drain)
    for l in adder_layers:
        if l["K"] >= G:                       # the drain is hidden
            assert l["addernet"]["utilisation"] > 0.98      # only the last tile's G - 1 cycles show
        else:                                 # tiles are G cycles apart, K of them useful
            assert l["addernet"]["utilisation"] == pytest.approx(l["K"] / G, rel=0.01)
    assert any(l["K"] < G for l in adder_layers)
    # energy: each term priced from the Horowitz table
    l0 = adder_layers[0]
    assert l0["addernet"]["energy_pj"] == pytest.approx(l0["terms"] * (0.03 + 0.1))
    assert l0["cnn"]["energy_pj"] == pytest.approx(l0["terms"] * (0.2 + 0.1))
    assert term_energy_pj("mac", 16) == pytest.approx(3.1 + 0.1)


def test_fmax_adds_time():
    r = compare_network(network("lenet5"), ArrayConfig(rows=4, cols=4, width=8), fmax_mhz={"sad": 200.0, "mac": 100.0})
    a, c = r["totals"]["addernet"], r["totals"]["cnn"]
    assert a["time_us"] == pytest.approx(a["cycles"] / 200.0)
    assert c["time_us"] == pytest.approx(c["cycles"] / 100.0)


def test_user_network_json(tmp_path):
    doc = {"name": "tiny", "layers": [
        {"name": "c1", "type": "conv", "op": "mul", "cin": 1, "cout": 4, "kernel": 3, "padding": 1, "in_hw": [8, 8]},
        {"name": "a1", "type": "conv", "op": "add", "cin": 4, "cout": 8, "kernel": 3, "stride": 2, "in_hw": [8, 8]},
        {"name": "fc", "type": "fc", "op": "mul", "cin": 72, "cout": 10}]}
    path = tmp_path / "net.json"
    path.write_text(json.dumps(doc))
    net = load_network(str(path))
    assert [l.name for l in net.layers] == ["c1", "a1", "fc"]
    assert net.layers[1].gemm() == (8, 36, 9)
    assert network(str(path)).name == "tiny"


@pytest.mark.parametrize("layers,msg", [
    ([{"name": "x", "op": "add", "cin": 1, "cout": 2, "kernel": 3, "in_hw": [8, 8], "type": "pool"}],
     r'layers\[0\] \(x\).type must be "conv" or "fc", not \'pool\''),
    ([{"name": "x", "op": "both", "cin": 1, "cout": 2, "kernel": 3, "in_hw": [8, 8]}],
     r'layers\[0\] \(x\).op must be "add"'),
    ([{"name": "x", "op": "add", "cout": 2, "kernel": 3, "in_hw": [8, 8]}], r"layers\[0\] \(x\).cin is missing"),
    ([{"name": "x", "op": "add", "cin": 0, "cout": 2, "kernel": 3, "in_hw": [8, 8]}],
     r"layers\[0\] \(x\).cin must be an integer of at least 1, not 0"),
    ([{"name": "x", "op": "add", "cin": 1, "cout": 2, "kernel": 3, "in_hw": [8]}],
     r"layers\[0\] \(x\).in_hw must be \[height, width\]"),
    ([{"name": "x", "op": "add", "cin": 1, "cout": 2, "kernel": 9, "in_hw": [4, 4]}],
     r"layers\[0\] \(x\): kernel 9x9 does not fit the input 4x4"),
    ([{"name": "x", "op": "add", "cin": 1, "cout": 2, "kernel": 3, "in_hw": [8, 8], "dilation": 2}],
     r"layers\[0\] \(x\) has unknown field 'dilation'"),
    ([], r'must be an object with a non-empty list "layers"'),
])
def test_bad_network_json_names_the_field(tmp_path, layers, msg):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"name": "bad", "layers": layers}))
    with pytest.raises(AdderhwError, match=msg):
        load_network(str(path))


def test_unparsable_and_unknown():
    with pytest.raises(AdderhwError, match="network must be one of lenet5, resnet20, resnet32, vggsmall"):
        network("alexnet")
    with pytest.raises(AdderhwError, match="cannot be read"):
        network("/nonexistent/net.json")
