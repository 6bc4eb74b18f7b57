"""Layer and network descriptions, and their #Mul / #Add counts the way the AdderNet paper counts.

A network is a list of compute layers, each with its own input size, so that neither pooling nor
residual wiring needs modelling: only the layers that run on the array matter for ops and cycles.

Counting (Chen et al., CVPR 2020, Tables 1-3): a multiplier layer of M multiply-accumulates counts
M multiplications and M additions; an adder layer of M |x - f| terms counts 2·M additions (the
subtraction and the accumulation) and no multiplication. BatchNorm is not counted. Following the
paper, the first convolution and the last classifier stay multiplier layers in the adder networks.
(For reference, the paper reports ResNet-20 CNN #Mul 41.17M and AdderNet #Mul 0.45M / #Add 81.7M;
our layer lists give the counts printed by ``adderhw compare``, which the README quotes.)

JSON schema of a user network (``adderhw compare --network FILE.json``)::

    {"name": "mynet",
     "layers": [
       {"name": "conv1", "type": "conv", "op": "mul", "cin": 3, "cout": 16, "kernel": 3,
        "stride": 1, "padding": 1, "in_hw": [32, 32]},
       {"name": "fc", "type": "fc", "op": "mul", "cin": 64, "cout": 10}
     ]}

``type`` is "conv" or "fc" (an fc layer is a 1x1 conv on a 1x1 input); ``op`` is "add" (adder
layer, runs on the SAD array) or "mul" (multiplier layer). ``kernel``, ``stride`` (default 1),
``padding`` (default 0) and ``in_hw`` belong to conv layers.
"""
import json
from dataclasses import dataclass

from .conv import conv_output_shape
from adderhw.base.errors import AdderhwError, BadParameter
from adderhw.base.validate import check_int

__all__ = ["Layer", "Network", "NETWORKS", "network", "load_network"]


@dataclass(frozen=True)
class Layer:
    """One compute layer. For the array: T = cout, K = cin·kernel², P = batch·Hout·Wout."""
    name: str
    cin: int
    cout: int
    kernel: int = 1
    stride: int = 1
    padding: int = 0
    in_h: int = 1
    in_w: int = 1
    adder: bool = True          # an adder layer (SAD) or a multiplier layer (MAC)
    kind: str = "conv"          # "conv" or "fc"

    @property
    def out_hw(self):
        return conv_output_shape(self.in_h, self.in_w, self.kernel, self.kernel, self.stride, self.padding)

    def gemm(self, batch=1):
        """(T, K, P) of the layer's im2col GEMM."""
        ho, wo = self.out_hw
        return self.cout, self.cin * self.kernel * self.kernel, batch * ho * wo

    def terms(self, batch=1):
        """Multiply-accumulates (or |x - f| terms) of the layer."""
        t, k, p = self.gemm(batch)
        return t * k * p

    def mul_add(self, batch=1, as_adder=None):
        """(#Mul, #Add) as the paper counts them; ``as_adder`` overrides the layer's own kind."""
        adder = self.adder if as_adder is None else as_adder
        m = self.terms(batch)
        return (0, 2 * m) if adder else (m, m)


@dataclass(frozen=True)
class Network:
    name: str
    layers: tuple
    dataset: str = ""

    def mul_add(self, batch=1, cnn=False):
        """Totals for the adder network (cnn=False) or its CNN twin (every layer multiplies)."""
        mul = add = 0
        for layer in self.layers:
            m, a = layer.mul_add(batch, as_adder=False if cnn else None)
            mul, add = mul + m, add + a
        return mul, add


def _chain(specs, in_hw):
    """Layers from (name, cin, cout, kernel, stride, padding, adder, pool_after) with sizes threaded through."""
    layers = []
    h, w = in_hw
    for name, cin, cout, k, s, p, adder, pool in specs:
        layer = Layer(name, cin, cout, k, s, p, h, w, adder)
        layers.append(layer)
        h, w = layer.out_hw
        if pool:
            h, w = h // pool, w // pool
    return layers


def _fc(name, cin, cout, adder):
    return Layer(name, cin, cout, adder=adder, kind="fc")


def lenet5():
    """LeNet-5-BN on MNIST 28x28 (conv 5x5 with padding 2, 2x2 pooling after each conv)."""
    convs = _chain([("conv1", 1, 6, 5, 1, 2, False, 2), ("conv2", 6, 16, 5, 1, 0, True, 2)], (28, 28))
    return Network("lenet5", tuple(convs + [_fc("fc1", 400, 120, True), _fc("fc2", 120, 84, True),
                                            _fc("fc3", 84, 10, False)]), "MNIST")


def cifar_resnet(depth):
    """ResNet-20/32 for CIFAR-10 (He et al. 2016): 3 stages of (depth-2)/6 basic blocks, 16/32/64 channels;
    the stage-changing blocks downsample their shortcut with a 1x1 stride-2 adder layer, as the AdderNet code does."""
    n = (depth - 2) // 6
    layers = [Layer("conv1", 3, 16, 3, 1, 1, 32, 32, adder=False)]
    cin, hw = 16, 32
    for stage, cout in enumerate((16, 32, 64), start=1):
        for block in range(n):
            stride = 2 if (stage > 1 and block == 0) else 1
            tag = f"s{stage}b{block + 1}"
            layers.append(Layer(f"{tag}.conv1", cin, cout, 3, stride, 1, hw, hw))
            out = layers[-1].out_hw[0]
            layers.append(Layer(f"{tag}.conv2", cout, cout, 3, 1, 1, out, out))
            if stride != 1 or cin != cout:
                layers.append(Layer(f"{tag}.down", cin, cout, 1, stride, 0, hw, hw))
            cin, hw = cout, out
    layers.append(_fc("fc", 64, 10, adder=False))
    return Network(f"resnet{depth}", tuple(layers), "CIFAR-10")


def vgg_small():
    """VGG-small for CIFAR-10 (as in the AdderNet paper): 2x128, 2x256, 2x512 3x3 convs, 2x2 pooling
    after each pair, and a 512·4·4 → 10 classifier."""
    specs = [("conv1", 3, 128, 3, 1, 1, False, 0), ("conv2", 128, 128, 3, 1, 1, True, 2),
             ("conv3", 128, 256, 3, 1, 1, True, 0), ("conv4", 256, 256, 3, 1, 1, True, 2),
             ("conv5", 256, 512, 3, 1, 1, True, 0), ("conv6", 512, 512, 3, 1, 1, True, 2)]
    return Network("vggsmall", tuple(_chain(specs, (32, 32)) + [_fc("fc", 512 * 4 * 4, 10, adder=False)]),
                   "CIFAR-10")


NETWORKS = {"lenet5": lenet5, "resnet20": lambda: cifar_resnet(20), "resnet32": lambda: cifar_resnet(32),
            "vggsmall": vgg_small}


def network(name):
    """A built-in network by name, or a user network from a JSON file path."""
    if name in NETWORKS:
        return NETWORKS[name]()
    if str(name).endswith(".json"):
        return load_network(name)
    raise BadParameter(f"network must be one of {', '.join(NETWORKS)} or a .json file, not {name!r}")


def load_network(path):
    """Parse a user network (schema in the module docstring); errors name the layer and the field."""
    try:
        with open(path) as f:
            doc = json.load(f)
    except OSError as exc:
        raise BadParameter(f"network file {path!r} cannot be read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise BadParameter(f"network file {path!r} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("layers"), list) or not doc["layers"]:
        raise BadParameter(f"network file {path!r} must be an object with a non-empty list \"layers\"")
    layers = []
    for i, spec in enumerate(doc["layers"]):
        where = f"layers[{i}]"
        if not isinstance(spec, dict):
            raise BadParameter(f"{where} must be an object, not {spec!r}")
        name = spec.get("name", f"layer{i}")
        where = f"layers[{i}] ({name})"
        kind = spec.get("type", "conv")
        if kind not in ("conv", "fc"):
            raise BadParameter(f"{where}.type must be \"conv\" or \"fc\", not {kind!r}")
        op = spec.get("op")
        if op not in ("add", "mul"):
            raise BadParameter(f"{where}.op must be \"add\" (adder layer) or \"mul\" (multiplier layer), not {op!r}")
        unknown = set(spec) - {"name", "type", "op", "cin", "cout", "kernel", "stride", "padding", "in_hw"}
        if unknown:
            raise BadParameter(f"{where} has unknown field {sorted(unknown)[0]!r}")

        def field(key, lo, default=None):
            if key not in spec:
                if default is None:
                    raise BadParameter(f"{where}.{key} is missing")
                return default
            try:
                return check_int(f"{where}.{key}", spec[key], lo=lo)
            except AdderhwError as exc:
                raise BadParameter(str(exc)) from None

        cin, cout = field("cin", 1), field("cout", 1)
        if kind == "fc":
            extra = set(spec) & {"kernel", "stride", "padding", "in_hw"}
            if extra:
                raise BadParameter(f"{where} is an fc layer and takes no {sorted(extra)[0]!r}")
            layers.append(_fc(name, cin, cout, op == "add"))
            continue
        k, s, p = field("kernel", 1), field("stride", 1, 1), field("padding", 0, 0)
        hw = spec.get("in_hw")
        if not (isinstance(hw, list) and len(hw) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                and v >= 1 for v in hw)):
            raise BadParameter(f"{where}.in_hw must be [height, width] with positive integers, not {hw!r}")
        layer = Layer(name, cin, cout, k, s, p, hw[0], hw[1], op == "add")
        try:
            layer.out_hw
        except AdderhwError as exc:
            raise BadParameter(f"{where}: {exc}") from None
        layers.append(layer)
    return Network(str(doc.get("name", path)), tuple(layers))
