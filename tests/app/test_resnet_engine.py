"""adderhw.resnet_engine: the block RAM count it reports (the run itself is the committed result in
docs/results/resnet20_engine, made by the command in its JSON)."""
import json
from pathlib import Path

from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.resnet_engine import ULX3S_85F_DP16KD, memory_blocks

RESULT = Path(__file__).resolve().parents[2] / "docs" / "results" / "resnet20_engine" / "resnet20_engine.json"


def test_memory_blocks_take_the_cheapest_dp16kd_shape():
    engine = EngineConfig(array=ArrayConfig(rows=8, cols=2, width=8, k_max=576), mac_rows=1, act_depth=16384,
                          weight_depth=34800, const_depth=794, max_layers=31, post_lanes=1, residual=True)
    m = memory_blocks(engine)
    assert [k for k in m if k.startswith("act")] == ["act0", "act1", "act2"]
    assert m["act0"]["dp16kd"] == 16                  # 16384 x 16: sixteen 16384x1 blocks
    assert m["weights"]["dp16kd"] == 68 * 2           # 34800 x 64: 68 deep x 2 wide of 512x36
    assert m["scales"]["dp16kd"] == 1 and m["biases"]["dp16kd"] == 2
    assert len(memory_blocks(engine.with_(residual=False))) == len(m) - 1


def test_the_committed_result_ran_bit_exact_and_fits():
    r = json.loads(RESULT.read_text())
    assert r["verilator_bit_exact_every_step"] and r["verilator_cycles_equal_model"]
    assert r["dp16kd"] == sum(v["dp16kd"] for v in r["memories"].values()) <= ULX3S_85F_DP16KD
    assert r["residual_adds"] == 9 and r["command"].startswith("python -m adderhw.resnet_engine")
