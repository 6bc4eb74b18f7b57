"""Program construction for the built-in networks, and the engine that holds a program.

* ``network_program(network, pe, width, ...)``: a trained digits or MNIST network (golden.trained:
  the committed weights, the cache or a training) compiled to a ``width``-bit program, by PTQ
  (golden.compiler.compile_network) or QAT (golden.qat.qat_compile).
* ``engine_for(program, rows, cols, pe, mac_rows, post_lanes)``: the smallest EngineConfig of an
  array shape whose memories hold the program.
* ``check_program_options(...)``: the options' checks, one sentence each, before any training.
"""
import numpy as np

from adderhw.base.pe_kind import pe_kind
from adderhw.base.config import ArrayConfig
from adderhw.base.engine import EngineConfig
from adderhw.base.errors import BadParameter
from adderhw.base.requant import REQUANT_KINDS, SHIFT_TERMS
from adderhw.base.validate import check_int

from .addernet import check_first_last
from .compiler import compile_network
from .program import LayerProgram, ResidualAdd, memory_images
from .requant_normal import normal_widths
from .trained import NETWORK_EPOCHS, QAT_EPOCHS, trained_network

__all__ = ["network_program", "engine_for", "check_program_options", "QUANTS"]

#: how a program is quantised: post-training, QAT, QAT with per-group scales (golden.qat)
QUANTS = ("ptq", "qat", "qat-group")


def check_program_options(network, pe, first_last="mul", requant="mul", shift_terms=2, quant="ptq", group=0,
                          qat_epochs=QAT_EPOCHS):
    """Raise BadParameter, naming the option, the value and what is allowed, unless these options
    make a program of a built-in network."""
    if network not in NETWORK_EPOCHS:
        raise BadParameter(f"network must be one of {', '.join(NETWORK_EPOCHS)}, not {network!r}")
    kind = pe_kind(pe)
    check_first_last(first_last, not kind.has_multiplier)
    if requant not in REQUANT_KINDS:
        raise BadParameter(f"requant must be one of {', '.join(REQUANT_KINDS)}, not {requant!r}")
    if shift_terms not in SHIFT_TERMS:
        raise BadParameter(f"shift_terms must be one of {', '.join(map(str, SHIFT_TERMS))}, not {shift_terms!r}")
    if quant not in QUANTS:
        raise BadParameter(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}")
    if quant != "ptq" and kind.has_multiplier:
        raise BadParameter(f"quant {quant!r} applies to the AdderNet (golden.qat fine-tunes adder layers); "
                           f"give the CNN twin quant 'ptq'")
    check_int("group", group, lo=0)
    check_int("qat_epochs", qat_epochs, lo=1)
    if requant == "shift" and kind.has_multiplier:
        raise BadParameter("requant 'shift' applies to the AdderNet engine; the CNN twin keeps its multipliers "
                           "(a CNN needs them), so give it requant 'mul'")


def network_program(network, pe, width, seed=0, epochs=0, progress=print, fresh=False, first_last="mul",
                    requant="mul", shift_terms=2, quant="ptq", group=0, qat_epochs=QAT_EPOCHS):
    """(data, model, program, trained): the trained network (golden.trained: the committed weights,
    the cache, or a training when ``fresh``), its ``width``-bit program, and where the weights came
    from (a golden.trained.TrainedNetwork). ``quant`` "qat"/"qat-group": the program of
    golden.qat.qat_compile (fine-tuned at the scales, per ``group`` channels for "qat-group"), and
    ``model`` the fine-tuned float model."""
    check_program_options(network, pe, first_last, requant, shift_terms, quant, group, qat_epochs)
    epochs = check_int("epochs", epochs, lo=0)
    net = trained_network(network, not pe_kind(pe).has_multiplier, seed, epochs, fresh=fresh, progress=progress,
                          first_last=first_last)
    name = f"{network}-{pe}" + ("-alladder" if first_last == "adder" else "") + ("-shift" if requant == "shift" else "")
    if quant == "ptq":
        program = compile_network(net.model, net.data.x_train[:512], width, name, requant=requant,
                                  shift_terms=shift_terms)
        return net.data, net.model, program, net
    from .qat import qat_compile          # torch's autograd training loop: loaded only for QAT
    if quant == "qat-group" and not group:
        raise BadParameter("quant 'qat-group' needs group, the output channels per scale (a multiple of the "
                           "engine's rows), not 0")
    progress(f"  QAT at {width} bits" + (f", one scale per {group} channels" if quant == "qat-group" else "")
             + f", {qat_epochs} epochs")
    compiled, _, tuned = qat_compile(net.model, net.data, width, f"{name}-{quant}",
                                     group=group if quant == "qat-group" else None, epochs=qat_epochs, seed=seed,
                                     distort=network == "mnist", requant=requant, shift_terms=shift_terms)
    return net.data, tuned, compiled.program, net


def _pow2(n):
    return 1 << max(4, (int(n) - 1).bit_length())


def engine_for(program, rows, cols, pe, mac_rows, post_lanes=0, exact_depths=False, dataflow="systolic"):
    """The smallest EngineConfig of this array shape that holds ``program``: the activation buffers
    and the weight and constant tables rounded up to powers of two, or, with ``exact_depths``, the
    tables exactly as deep as the program needs (the program-file flows: a large network such as
    ResNet-20 then fits the block RAM that power-of-two depths overflow; the address widths are the
    same either way). Only what the program needs is built: an AdderNet program without multiplier
    layers gets no MAC array (``mac_rows`` is then 0 whatever was asked), and a program compiled
    with requant "shift" a post-processing without multipliers; the per-tile input shift is built
    when a layer has a non-zero x_shift (per-group scales), and the residual add with its third
    activation buffer (EngineConfig.residual) when the program is a graph (a residual add, or a step
    reading a tensor other than the previous one), and the program's rounding (ties to even for a
    Brevitas import). The scale and bias tables are as wide as the program's requantisation needs
    in normal form (golden.requant_normal.normal_widths: M's common power of two taken out), not
    the program's format widths: the multiplier-free digits and MNIST programs need 9 and 19, 8 and
    22 bits against 16 and 32. ``post_lanes``:
    EngineConfig.post_lanes. ``dataflow``: ArrayConfig.dataflow of every array of the engine."""
    convs = [layer for layer in program.layers if isinstance(layer, LayerProgram)]
    scale_bits, bias_bits = normal_widths(program)
    k_max = max(layer.k for layer in convs)
    array = ArrayConfig(rows=rows, cols=cols, width=program.width, k_max=k_max, pe=pe, dataflow=dataflow)
    needs_mac = any(layer.op == "mul" for layer in program.layers)
    probe = EngineConfig(array=array, mac_rows=mac_rows if not array.kind.has_multiplier and needs_mac else 0, act_depth=1 << 20,
                         weight_depth=1 << 20, const_depth=1 << 16, max_layers=len(program.layers),
                         scale_bits=scale_bits, bias_bits=bias_bits, requant=program.requant,
                         shift_terms=program.shift_terms,
                         tile_shift=any(layer.x_shifts.any() for layer in convs), post_lanes=post_lanes,
                         residual=not program.sequential, rounding=program.rounding)
    mem = memory_images(program, probe)
    act = max(max(int(np.prod(program.input_shape)), *(int(np.prod(step.out_shape)) for step in program.layers),
                  *(int(np.prod(step.shape)) for step in program.layers if isinstance(step, ResidualAdd))), 1)
    if exact_depths:
        return probe.with_(act_depth=_pow2(act), weight_depth=max(len(mem.weights), 16),
                           const_depth=max(len(mem.consts), 16))
    return probe.with_(act_depth=_pow2(act), weight_depth=_pow2(len(mem.weights)),
                       const_depth=_pow2(len(mem.consts)))
