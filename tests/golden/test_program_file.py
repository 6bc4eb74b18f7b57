"""golden.program_file: a round trip gives the same program (and the same outputs); a newer format
version and a file that is not a program are refused naming the file."""
import dataclasses
import json

import numpy as np
import pytest
import torch

from adderhw.golden import BadParameter
from adderhw.golden.compiler import compile_model, quantize_images
from adderhw.golden.frontend import import_model
from adderhw.golden.program import LayerProgram, ResidualAdd, run_program
from adderhw.golden.program_file import FORMAT_VERSION, read_program, state_dict_sha256, write_program

from .user_models import ResidualNet, randomise_batchnorm


@pytest.fixture(scope="module")
def compiled():
    torch.manual_seed(4)
    model = randomise_batchnorm(ResidualNet(), seed=4)
    x = np.random.default_rng(4).random((32, 1, 8, 8)).astype(np.float32)
    return model, compile_model(import_model(model, (1, 8, 8)), x, 6, "res6", requant="shift"), x


def test_round_trip_gives_the_same_program_and_outputs(tmp_path, compiled):
    model, c, x = compiled
    digest = state_dict_sha256(model)
    path = write_program(tmp_path / "res.npz", c.program, c.logit_frac, c.scales, digest, "ResidualNet")
    back = read_program(path)
    p, q = c.program, back.program
    assert (q.name, q.width, q.input_frac, q.scale_bits, q.bias_bits, q.requant, q.shift_terms, q.rounding) == \
        ("res6", 6, p.input_frac, 16, 32, "shift", 2, "half_up")
    assert back.logit_frac == c.logit_frac and back.source_sha256 == digest and back.version == FORMAT_VERSION
    assert len(q.layers) == len(p.layers)
    for a, b in zip(p.layers, q.layers):
        assert type(a) is type(b) and a.name == b.name and a.src == b.src and a.relu == b.relu and a.pool == b.pool
        if isinstance(a, ResidualAdd):
            assert (a.skip, tuple(a.shape), a.main_shift, a.skip_shift, a.shift) == \
                (b.skip, tuple(b.shape), b.main_shift, b.skip_shift, b.shift)
        else:
            assert np.array_equal(a.weights, b.weights) and np.array_equal(a.scale, b.scale)
            assert np.array_equal(a.bias, b.bias) and (a.shift, a.stride, a.padding, a.in_hw, a.x_shift) == \
                (b.shift, b.stride, b.padding, tuple(b.in_hw), b.x_shift)
    assert [s["out_frac"] for s in back.scales] == [s.out_frac for s in c.scales]
    xq = quantize_images(p, x)
    for got, want in zip(run_program(q, xq).outputs, run_program(p, xq).outputs):
        assert np.array_equal(got, want)


def test_the_hash_follows_the_weights():
    torch.manual_seed(5)
    a = ResidualNet()
    b = ResidualNet()
    b.load_state_dict(a.state_dict())
    assert state_dict_sha256(a) == state_dict_sha256(b)
    assert len(state_dict_sha256(a)) == 64
    with torch.no_grad():
        b.fc.bias[0] += 1e-6
    assert state_dict_sha256(a) != state_dict_sha256(b)


def _rewrite_header(path, change):
    with np.load(path, allow_pickle=False) as npz:
        data = {k: npz[k] for k in npz.files}
    header = json.loads(str(data["header"]))
    change(header)
    data["header"] = np.array(json.dumps(header))
    with open(path, "wb") as f:
        np.savez(f, **data)


def test_the_rounding_round_trips_and_a_version_1_file_reads_as_half_up(tmp_path, compiled):
    _, c, _ = compiled
    even = dataclasses.replace(c.program, rounding="half_even")
    assert read_program(write_program(tmp_path / "even.npz", even)).program.rounding == "half_even"
    path = write_program(tmp_path / "v1.npz", c.program)

    def as_version_1(h):            # the layout before rounding existed
        h.update(version=1)
        del h["rounding"]
    _rewrite_header(path, as_version_1)
    back = read_program(path)
    assert back.version == 1 and back.program.rounding == "half_up"


def test_a_newer_version_is_refused_naming_the_file_and_both_versions(tmp_path, compiled):
    _, c, _ = compiled
    path = write_program(tmp_path / "new.npz", c.program)
    _rewrite_header(path, lambda h: h.update(version=FORMAT_VERSION + 1))
    with pytest.raises(BadParameter) as info:
        read_program(path)
    assert str(info.value) == (f"program file {str(path)!r} has format version {FORMAT_VERSION + 1}, newer than the "
                               f"version {FORMAT_VERSION} this adderhw reads; upgrade adderhw to read it")


def test_other_files_are_refused(tmp_path, compiled):
    _, c, _ = compiled
    other = tmp_path / "weights.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(BadParameter, match="has no readable header"):
        read_program(other)
    path = write_program(tmp_path / "p.npz", c.program)
    _rewrite_header(path, lambda h: h.update(format="something-else"))
    with pytest.raises(BadParameter, match="is not an adderhw-program file"):
        read_program(path)
    with pytest.raises(BadParameter, match="does not exist"):
        read_program(tmp_path / "missing.npz")
