"""``adderhw compare``'s text and plot, on the committed results and on an iso-area comparison."""
import json
import struct
from pathlib import Path

import pytest

from adderhw.base.config import ArrayConfig
from adderhw.compare import compare_network, format_compare, plot_compare
from adderhw.golden.networks import network

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"


@pytest.mark.parametrize("rows,sad,article", [(8, None, "an 8x8"), (4, None, "a 4x4"), (8, (11, 8), "an 11x8")])
def test_the_heading_reads_right_for_every_size(rows, sad, article):
    r = compare_network(network("lenet5"), ArrayConfig(rows=rows, cols=rows), sad_shape=sad)
    assert format_compare(r).startswith(f"lenet5, batch 1, 8-bit: AdderNet on {article} ")


def png_size(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_the_plot_renders_the_committed_results_and_an_iso_area_comparison(tmp_path):
    committed = json.loads((RESULTS / "compare.json").read_text())
    iso = compare_network(network("lenet5"), ArrayConfig(rows=8, cols=8), sad_shape=(16, 12))
    # equal arrays take equal cycles on both designs, unequal ones do not: the plot's two cases
    assert all(l["addernet"]["cycles"] == l["cnn"]["cycles"] for l in committed["layers"])
    assert any(l["addernet"]["cycles"] != l["cnn"]["cycles"] for l in iso["layers"])
    for name, r in (("committed", committed), ("iso", iso)):
        plot_compare(r, tmp_path / f"{name}.png")
        width_in = max(8, 0.45 * len(r["layers"]) + 3)
        assert png_size(tmp_path / f"{name}.png") == (round(width_in * 110), round(7.5 * 110))
