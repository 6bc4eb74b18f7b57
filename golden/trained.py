"""Trained networks for the flows: the committed weights a result came from, a cached training, or a
fresh one.

Why committed weights: a seeded training is reproducible only among machines that run the same
kernels (adderhw.base.kernels pins them on x86-64, but not across torch versions or
architectures). Every committed hardware number (correct counts, cycles, accuracies) comes from
weights that sit beside the results, in ``docs/results/weights/<name>.npz``, so a new user gets
those numbers exactly whatever their CPU.

Where :func:`trained_network` takes a model from, in order:

1. ``fresh=False`` and a committed file of that name: its weights (their SHA-256 is checked
   against the one recorded inside the file);
2. ``fresh=False`` and the cache (``$ADDERHW_CACHE/models``, default ~/.cache/adderhw), keyed by
   the name *and* by everything else that changes the weights: torch's version, the kernel family
   in use and the training code's version (golden.determinism.kernel_fingerprint);
3. a training here (golden.training, deterministic), stored in the cache afterwards.

A weights file (``.npz``) holds the model's ``state_dict`` arrays under their own names and one
``__meta__`` array: a JSON string with the network, kind, channels, seed, epochs, the
fingerprint of the machine that trained it, the weights' SHA-256 and the float test accuracy.
``adderhw train`` writes one.
"""
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adderhw.base.errors import BadParameter
from adderhw.base.cache import cache_dir as _cache_dir, content_key
from adderhw.base.validate import check_int
from adderhw.base.networks import NETWORK_EPOCHS, QAT_EPOCHS, STUDY_EPOCHS   # the table, re-exported

from . import determinism
from .addernet import DigitsNet, accuracy, load_digits_data, train
from .determinism import deterministic
from .mnist import MNIST_CHANNELS, MnistNet, load_mnist_data, train_mnist

__all__ = ["NETWORK_EPOCHS", "STUDY_EPOCHS", "QAT_EPOCHS", "trained_pair", "TrainedNetwork", "trained_network", "model_name", "weights_sha256",
           "save_weights", "load_weights", "committed_dir", "cache_dir"]



_KINDS = {True: "addernet", False: "cnn"}


def committed_dir():
    """The folder of committed weights: ``$ADDERHW_WEIGHTS``, or ``docs/results/weights`` of the
    checkout this package runs from (absent in an installed wheel: then nothing is committed)."""
    env = os.environ.get("ADDERHW_WEIGHTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "docs" / "results" / "weights"


def cache_dir():
    """``$ADDERHW_CACHE/models`` (default ~/.cache/adderhw/models): the simulators' cache root."""
    return _cache_dir("models")


def _network_parts(network):
    if network == "digits":
        return load_digits_data, DigitsNet, train, (8, 16, 16)
    if network == "mnist":
        return load_mnist_data, MnistNet, train_mnist, MNIST_CHANNELS
    raise BadParameter(f"network must be one of {', '.join(NETWORK_EPOCHS)}, not {network!r}")


def model_name(network, adder, seed, epochs, channels=None, first_last="mul"):
    """``<network>-<addernet|addernet_all|cnn>-c<channels>-seed<S>-e<E>``: what a weights file is
    called ("addernet_all": first and last layers are adder layers too, golden.addernet.FIRST_LAST)."""
    channels = tuple(channels or _network_parts(network)[3])
    kind = _KINDS[bool(adder)] + ("_all" if first_last == "adder" else "")
    return f"{network}-{kind}-c{'_'.join(map(str, channels))}-seed{seed}-e{epochs}"


def weights_sha256(state_dict):
    """SHA-256 (hex) over a state dict's names, dtypes, shapes and bytes, in name order: equal
    exactly when the weights are equal bit for bit."""
    h = hashlib.sha256()
    for name in sorted(state_dict):
        a = np.ascontiguousarray(_numpy(state_dict[name]))
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _numpy(v):
    return v.detach().cpu().numpy() if hasattr(v, "detach") else np.asarray(v)


def save_weights(path, model, meta):
    """Write ``model``'s state dict and ``meta`` (JSON-ready; the SHA-256 is added) to ``path``."""
    state = {k: _numpy(v) for k, v in model.state_dict().items()}
    meta = dict(meta, sha256=weights_sha256(state))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp.npz")   # unique: parallel writers of one name
    np.savez(tmp, __meta__=np.array(json.dumps(meta, sort_keys=True)), **state)
    os.replace(tmp, path)
    return meta


def load_weights(path, model):
    """Load ``path`` into ``model``; returns its meta. Refuses a file whose weights do not hash to
    the SHA-256 recorded in it, or whose names do not match the model's."""
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    with np.load(path) as f:
        meta = json.loads(str(f["__meta__"]))
        state = {k: f[k] for k in f.files if k != "__meta__"}
    if weights_sha256(state) != meta.get("sha256"):
        raise BadParameter(f"weights file {str(path)!r} is damaged: its weights do not hash to the SHA-256 "
                           f"recorded in it")
    expected = set(model.state_dict())
    if set(state) != expected:
        raise BadParameter(f"weights file {str(path)!r} holds {sorted(set(state) ^ expected)} where the model "
                           f"has other tensors; it belongs to another architecture")
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in state.items()})
    return meta


@dataclass
class TrainedNetwork:
    """A trained network and where it came from: ``source`` is "committed", "cache" or "trained";
    ``path`` the weights file read or written; ``meta`` that file's meta."""
    data: object
    model: object
    name: str
    source: str
    path: Path
    meta: dict = field(default_factory=dict)

    def record(self):
        """What a result's JSON says about its weights."""
        # a committed file by its place in the repository, so that the record is the same on every clone
        where = f"docs/results/weights/{self.path.name}" if self.source == "committed" else str(self.path)
        return {"name": self.name, "source": self.source, "file": where, "sha256": self.meta["sha256"],
                "trained_on": self.meta.get("fingerprint")}


def trained_network(network, adder, seed=0, epochs=0, fresh=False, channels=None, progress=print,
                    first_last="mul"):
    """The trained ``network`` ("digits" or "mnist"), AdderNet (``adder``) or CNN twin, of ``seed`` and
    ``epochs`` (0: :data:`NETWORK_EPOCHS`), from the committed weights, the cache or a training
    (module docstring); ``fresh`` skips the first two; ``first_last`` "adder": the all-adder
    AdderNet (golden.addernet.FIRST_LAST). The model is in eval mode."""
    load_data, make, fit, default_channels = _network_parts(network)
    seed = check_int("seed", seed, lo=0)
    epochs = check_int("epochs", epochs, lo=0) or NETWORK_EPOCHS[network]
    channels = tuple(channels or default_channels)
    data = load_data(seed)
    with deterministic(seed):
        # the initial weights come from torch's global generator, seeded here
        model = make(adder=adder, channels=channels, first_last=first_last)
    name = model_name(network, adder, seed, epochs, channels, first_last)
    kind = ("all-adder AdderNet" if first_last == "adder" else "AdderNet") if adder else "CNN"
    committed = committed_dir() / f"{name}.npz"
    if not fresh and committed.exists():
        meta = load_weights(committed, model)
        progress(f"  the {network} {kind}: committed weights {committed.name} (sha256 {meta['sha256'][:12]})")
        return TrainedNetwork(data, model.eval(), name, "committed", committed, meta)
    fp = determinism.kernel_fingerprint()      # by attribute: tests/golden/test_trained.py patches it
    cached = cache_dir() / f"{name}-{content_key(fp['training'], fp['torch'], fp['capability'])}.npz"
    if not fresh and cached.exists():
        meta = load_weights(cached, model)
        progress(f"  the {network} {kind}: cached training {cached}")
        return TrainedNetwork(data, model.eval(), name, "cache", cached, meta)
    progress(f"  training the {network} {kind} ({epochs} epochs, seed {seed}; cached afterwards)")
    fit(model, data, epochs=epochs, seed=seed, progress=progress)
    model.eval()
    meta = {"network": network, "kind": kind, "first_last": first_last, "channels": list(channels), "seed": seed,
            "epochs": epochs,
            "fingerprint": fp, "test_accuracy": accuracy(model, data.x_test, data.y_test)}
    meta = save_weights(cached, model, meta)
    return TrainedNetwork(data, model, name, "trained", cached, meta)


def trained_pair(network, seed, epochs, say, twin=True, fresh=False):
    """(data, float AdderNet, float CNN twin, weights records): the committed weights, the cached or a
    fresh training (:func:`trained_network`); the twin is None when not ``twin``."""
    nets = [trained_network(network, adder, seed, epochs, fresh=fresh, progress=say)
            for adder in (True, False)[:2 if twin else 1]]
    return (nets[0].data, nets[0].model, nets[1].model if twin else None,
            {("AdderNet" if i == 0 else "CNN"): n.record() for i, n in enumerate(nets)})
