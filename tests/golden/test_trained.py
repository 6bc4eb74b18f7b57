import hashlib
import json

import numpy as np
import pytest
import torch

from adderhw.base.errors import BadParameter
from adderhw.golden.addernet import DigitsNet
from adderhw.golden import trained
from adderhw.golden.trained import load_weights, model_name, save_weights, trained_network, weights_sha256


@pytest.fixture
def dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("ADDERHW_WEIGHTS", str(tmp_path / "committed"))
    monkeypatch.setenv("ADDERHW_CACHE", str(tmp_path / "cache"))
    return tmp_path


def _model(seed):
    torch.manual_seed(seed)
    return DigitsNet(adder=True)


def test_hash_is_bit_exact():
    a, b = _model(1).state_dict(), _model(1).state_dict()
    assert weights_sha256(a) == weights_sha256(b)
    w = b["add1.weight"].numpy().copy()
    w.flat[7] = np.nextafter(w.flat[7], np.float32(9))        # one bit of one weight
    b["add1.weight"] = torch.from_numpy(w)
    assert weights_sha256(a) != weights_sha256(b)


def test_save_and_load_round_trip(tmp_path):
    m = _model(2)
    meta = save_weights(tmp_path / "w.npz", m, {"seed": 2})
    n = _model(3)
    got = load_weights(tmp_path / "w.npz", n)
    assert got == meta and got["seed"] == 2
    for k, v in m.state_dict().items():
        assert torch.equal(v, n.state_dict()[k]), k


def test_damaged_and_foreign_files_are_refused(tmp_path):
    path = tmp_path / "w.npz"
    save_weights(path, _model(2), {})
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    arrays["fc.bias"] = arrays["fc.bias"] + 1
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(BadParameter, match="damaged"):
        load_weights(tmp_path / "bad.npz", _model(2))
    with pytest.raises(BadParameter, match="another architecture"):
        load_weights(path, torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_committed_weights_come_first_then_the_cache_then_a_training(dirs):
    name = model_name("digits", True, 0, 1)
    first = trained_network("digits", True, 0, 1, progress=lambda m: None)
    assert first.source == "trained"
    # the cache key (base.cache.content_key) holds the training code's version, torch's version and
    # the kernels in use
    cap = torch.backends.cpu.get_cpu_capability()
    key = hashlib.sha256(f"2\0{torch.__version__}\0{cap}".encode()).hexdigest()[:20]
    assert first.path.name == f"{name}-{key}.npz"
    again = trained_network("digits", True, 0, 1, progress=lambda m: None)
    assert again.source == "cache" and again.meta["sha256"] == first.meta["sha256"]
    # another seed's weights, committed under this name, win over the cache
    other = _model(9)
    save_weights(dirs / "committed" / f"{name}.npz", other, {"seed": 0})
    c = trained_network("digits", True, 0, 1, progress=lambda m: None)
    assert c.source == "committed" and c.meta["sha256"] == weights_sha256(other.state_dict())
    assert c.record()["sha256"] == c.meta["sha256"]
    assert c.record()["file"] == f"docs/results/weights/{name}.npz"      # the same on every clone
    # fresh: neither, and the same weights as the first training (deterministic)
    f = trained_network("digits", True, 0, 1, fresh=True, progress=lambda m: None)
    assert f.source == "trained" and f.meta["sha256"] == first.meta["sha256"]


def test_another_kernel_family_is_another_cache_entry(dirs, monkeypatch):
    first = trained_network("digits", False, 0, 1, progress=lambda m: None)
    import adderhw.golden.determinism as det
    real = det.kernel_fingerprint
    monkeypatch.setattr(det, "kernel_fingerprint", lambda: dict(real(), capability="AVX512"))
    second = trained_network("digits", False, 0, 1, progress=lambda m: None)
    key = hashlib.sha256(f"2\0{torch.__version__}\0AVX512".encode()).hexdigest()[:20]
    assert second.source == "trained" and second.path != first.path and second.path.name.endswith(f"-{key}.npz")


def test_unknown_network_is_refused(dirs):
    with pytest.raises(BadParameter, match="network must be one of digits, mnist, not 'cifar'"):
        trained_network("cifar", True)


# ---- the committed weights and the committed results they came from

_REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
_COMMITTED = sorted((_REPO / "docs" / "results" / "weights").glob("*.npz"))


def _records(node):
    """Every weights record (adderhw.golden.trained.TrainedNetwork.record) inside a result's JSON."""
    if isinstance(node, dict):
        if {"name", "source", "sha256"} <= node.keys():
            yield node
        for v in node.values():
            yield from _records(v)
    elif isinstance(node, list):
        for v in node:
            yield from _records(v)


def _load_committed(path):
    meta = json.loads(str(np.load(path)["__meta__"]))
    net = trained_network(meta["network"], meta["kind"] != "CNN", meta["seed"], meta["epochs"],
                          channels=meta["channels"], first_last=meta.get("first_last", "mul"),
                          progress=lambda m: None)
    return net, meta


def test_weights_are_committed():
    names = {p.stem for p in _COMMITTED}
    for network, epochs, seeds in (("digits", 40, range(5)), ("mnist", 60, [0]), ("mnist", 40, range(5))):
        for seed in seeds:
            for adder in (True, False):
                assert model_name(network, adder, seed, epochs) in names
    for network, epochs in (("digits", 40), ("mnist", 60)):
        assert model_name(network, True, 0, epochs, first_last="adder") in names


@pytest.mark.parametrize("path", _COMMITTED, ids=[p.stem for p in _COMMITTED])
def test_committed_weights_give_their_recorded_accuracy(path, monkeypatch):
    from adderhw.golden.addernet import accuracy
    monkeypatch.delenv("ADDERHW_WEIGHTS", raising=False)
    net, meta = _load_committed(path)
    assert net.source == "committed" and net.path == path
    assert accuracy(net.model, net.data.x_test, net.data.y_test) == meta["test_accuracy"]


_RESULTS = sorted(p for p in (_REPO / "docs" / "results").rglob("*.json")
                  if not p.name.endswith(".partial.json") and '"sha256"' in p.read_text())


@pytest.mark.parametrize("path", _RESULTS, ids=[str(p.relative_to(_REPO)) for p in _RESULTS])
def test_committed_results_came_from_committed_weights(path):
    """Every committed result that names its weights names committed ones, by their hash, so that a
    new user's run loads the same weights and gets the same numbers."""
    records = list(_records(json.loads(path.read_text())))
    assert records
    for r in records:
        assert r["source"] == "committed", r
        committed = _REPO / "docs" / "results" / "weights" / f"{r['name']}.npz"
        assert json.loads(str(np.load(committed)["__meta__"]))["sha256"] == r["sha256"]


@pytest.mark.parametrize("path", [p for p in _RESULTS if p.name == "engine.json"],
                         ids=lambda p: p.parent.name)
def test_engine_results_repeat_from_the_committed_weights(path, monkeypatch):
    """The float and golden-program accuracies of a committed engine result, recomputed from its
    committed weights here (the compiler and the golden program model; the RTL equals golden, which
    the engine flow itself checks)."""
    from adderhw.golden.network_program import network_program
    from adderhw.golden.compiler import quantize_images
    from adderhw.golden.program import run_program
    monkeypatch.delenv("ADDERHW_WEIGHTS", raising=False)
    r = json.loads(path.read_text())
    # a QAT result's program is fine-tuned again here (seeded: the same program)
    qat = {"quant": r.get("quant", "ptq"), "group": r.get("group") or 0,
           "qat_epochs": int(r["command"].split("--qat-epochs ")[1].split()[0]) if "--qat-epochs" in r["command"] else 6}
    data, model, program, net = network_program(r["network"], r["pe"], r["width"], progress=lambda m: None,
                                                first_last=r.get("first_last", "mul"), requant=r.get("requant", "mul"),
                                                shift_terms=r.get("shift_terms") or 2, **qat)
    assert net.source == "committed" and net.meta["sha256"] == r["weights"]["sha256"]
    assert net.meta["test_accuracy"] == r["float_accuracy_test_set"]
    golden = run_program(program, quantize_images(program, data.x_test))
    n = r["images"]
    assert int(np.sum(golden.classes[:n] == data.y_test[:n])) == r["golden_correct"]
    assert float(np.mean(golden.classes == data.y_test)) == r["golden_accuracy_test_set"]
