"""The library's front door: compile a user's PyTorch model into an engine program.

For the CLI (``adderhw compile`` and ``--program FILE``), call:

* ``compile_to_file(model, path, calib=CALIB, width=W, quant="ptq"|"qat", requant="mul"|"shift",
  shift_terms=T, name=NAME, input_shape=None, engine=None, qat_epochs=E)`` to write a program file;
  ``model`` is an nn.Module the CLI loads itself (for example with ``torch.load`` of a pickled model),
  ``calib`` the user's data path (``.npy`` / ``.npz``);
* ``load_program(path)`` to read one back (an ``adderhw.golden.program_file.ProgramFile``: ``.program``
  is what ``engine``, ``build --top engine`` and ``run`` take; ``.source_sha256`` the model's hash);
* ``load_calibration(calib)`` to read the user's data ((x, y or None)) for an accuracy report, and
  ``adderhw.golden.compiler.evaluate(model, program, x, y)`` for the report itself.

Every error is an ``adderhw.base.errors.BadParameter`` with one sentence.

What it does (``compile``):

1. the model is traced with torch.fx and lowered to the compiler's layers (adderhw.golden.frontend:
   Conv2d, Linear, adder layers by their interface, BatchNorm, ReLU, pools, flatten, residual add);
2. post-training quantisation (``quant="ptq"``): golden.compiler.compile_model on the first
   ``calib_images`` calibration images chooses every tensor's power-of-two scale;
   A model with Brevitas layers (the optional extra ``adderhw[brevitas]``) is compiled instead by
   adderhw.golden.brevitas_import.compile_imported: its fixed-point scales and integer weights are
   the program's, not re-quantised; the calibration images choose only the logits' scale where its
   last layer has no output quantiser (``quant`` must be "ptq");
3. quantisation-aware training (``quant="qat"``, needs labels): the scales of step 2's adder layers
   are kept fixed, golden.qat.fine_tune trains a copy of the imported model with its adder layers
   fake-quantised at them, and golden.compiler.compile_model compiles the tuned copy with them
   (``fracs``). golden.qat.calibrate_fracs, which searches a few finer scales per layer, reads the
   built-in networks' layer names (golden.addernet.adder_layers) and so is not used for a user's
   model: the PTQ scales are its starting point, the finest at which nothing saturates.

Data (``calib``): an array of float images (N, C, H, W); a tuple (x, y); a ``.npy`` file of images;
a ``.npz`` with ``x`` and optionally ``y``; or a torch Dataset of (image, label) pairs or images.
"""
import sys
import types
from pathlib import Path

import numpy as np

from adderhw.base.errors import BadParameter
from adderhw.golden.addernet import DigitsData
from adderhw.golden.compiler import compile_model as compile_imported
from adderhw.golden.program_file import read_program, state_dict_sha256, write_program

__all__ = ["compile", "compile_model", "compile_to_file", "load_calibration", "load_program", "QUANTS"]

#: how a user's model is quantised
QUANTS = ("ptq", "qat")


def load_calibration(calib):
    """(x float32 (N, C, H, W), y int64 (N,) or None) from ``calib`` (module docstring)."""
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    if isinstance(calib, (str, Path)):
        path = Path(calib)
        if path.suffix not in (".npy", ".npz"):
            raise BadParameter(f"calib file {str(path)!r} must be a .npy (images) or .npz (x and optional y) file")
        try:
            loaded = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BadParameter(f"calib file {str(path)!r} cannot be read: {exc}") from None
        if path.suffix == ".npy":
            x, y = loaded, None
        else:
            with loaded:
                if "x" not in loaded.files:
                    raise BadParameter(f"calib file {str(path)!r} must hold an array named x (and optionally y), "
                                       f"not {', '.join(loaded.files) or 'nothing'}")
                x, y = loaded["x"], (loaded["y"] if "y" in loaded.files else None)
    elif isinstance(calib, tuple) and len(calib) == 2:
        x, y = calib
    elif isinstance(calib, torch.utils.data.Dataset):
        xs, ys = [], []
        for i in range(len(calib)):
            item = calib[i]
            if isinstance(item, (tuple, list)):
                xs.append(np.asarray(item[0]))
                ys.append(int(item[1]))
            else:
                xs.append(np.asarray(item))
        x, y = np.stack(xs), (np.asarray(ys) if ys else None)
    else:
        x, y = calib, None
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[:, None]              # (N, H, W) grey images
    if x.ndim != 4 or not len(x) or not np.issubdtype(x.dtype, np.number):
        raise BadParameter(f"calib must hold images (N, C, H, W) with N >= 1, not an array of shape {x.shape} "
                           f"and dtype {x.dtype}")
    x = x.astype(np.float32)
    if y is not None:
        y = np.asarray(y)
        if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
            raise BadParameter(f"calib's labels y must be {len(x)} integers (one per image), not an array of shape "
                               f"{y.shape} and dtype {y.dtype}")
        y = y.astype(np.int64)
    return x, y


def compile_model(model, calib, width=8, quant="ptq", **options):
    """(golden.compiler.Compiled, the imported model it was compiled from, the source sha256) of a
    user's ``model``; see :func:`compile`. The adder layers run their eager code meanwhile
    (golden.reference.eager_kernels: compiling the fused kernel costs more than one calibration)."""
    from adderhw.golden.reference import eager_kernels      # torch: deferred (start-up, golden/__init__ docstring)
    with eager_kernels():
        return _compile_model(model, calib, width, quant, **options)


def _compile_model(model, calib, width=8, quant="ptq", requant="mul", shift_terms=2, scale_bits=16, bias_bits=32,
                   name=None, input_shape=None, engine=None, calib_images=512, qat_epochs=4, seed=0):
    from adderhw.golden.frontend import import_model        # torch: deferred (start-up, golden/__init__ docstring)
    if quant not in QUANTS:
        raise BadParameter(f"quant must be one of {', '.join(QUANTS)}, not {quant!r}")
    x, y = load_calibration(calib)
    shape = tuple(input_shape) if input_shape is not None else tuple(x.shape[1:])
    if tuple(x.shape[1:]) != shape:
        raise BadParameter(f"calib images have shape {tuple(x.shape[1:])} but input_shape is {shape}")
    digest = state_dict_sha256(model)
    name = name or type(model).__name__
    net = import_model(model, shape, engine=engine)
    calib_x = x[:calib_images]
    # ---- a Brevitas model (adderhw[brevitas]): its own scales and integers, not re-quantised
    from adderhw.golden.brevitas_import import compile_imported as compile_brevitas, has_brevitas_layers
    if has_brevitas_layers(model):
        if quant != "ptq":
            raise BadParameter(f"quant {quant!r} trains, and model {type(model).__name__} is a Brevitas model that "
                               f"is quantised already; use quant 'ptq' (its scales and integers are imported as "
                               f"they are)")
        return compile_brevitas(net, calib_x, width, name, scale_bits, bias_bits, requant, shift_terms), net, digest
    # ---- end of Brevitas
    compiled = compile_imported(net, calib_x, width, name, scale_bits, bias_bits, requant, shift_terms)
    if quant == "ptq":
        return compiled, net, digest
    if y is None:
        raise BadParameter("quant 'qat' trains, so calib must carry labels y (a .npz with x and y, a tuple (x, y) "
                           "or a Dataset of (image, label))")
    from adderhw.golden.qat import copy_model, fine_tune    # torch: deferred (start-up, golden/__init__ docstring)
    fracs = {s.name: s.x_frac for s in compiled.scales if s.op == "add"}
    if not fracs:
        raise BadParameter(f"quant 'qat' fine-tunes adder layers, and model {type(model).__name__} has none; use "
                           f"quant 'ptq'")
    tuned = copy_model(net)
    fine_tune(tuned, DigitsData(x, y, x, y), width, fracs, epochs=qat_epochs, seed=seed, progress=None)
    tuned.eval()
    compiled = compile_imported(tuned, calib_x, width, f"{name}-qat", scale_bits, bias_bits, requant, shift_terms,
                                fracs=fracs)
    return compiled, tuned, digest


def compile(model, calib, width=8, quant="ptq", **options):
    """The golden.program.Program of a user's torch ``model`` (module docstring), at signed ``width``
    bits, with calibration data ``calib``. ``options``: requant ("mul": an integer multiplier per
    channel; "shift": sums of ``shift_terms`` powers of two), shift_terms, scale_bits, bias_bits,
    name, input_shape (C, H, W; default the images'), engine (an EngineConfig whose buffers the
    shapes must fit), calib_images (how many images choose the scales), qat_epochs and seed."""
    return compile_model(model, calib, width, quant, **options)[0].program


def compile_to_file(model, path, calib, width=8, quant="ptq", **options):
    """:func:`compile` and write the program file (golden.program_file) to ``path``, with the
    logits' scale, every step's scales and the model's sha256; returns the Program."""
    compiled, _, digest = compile_model(model, calib, width, quant, **options)
    write_program(path, compiled.program, compiled.logit_frac, compiled.scales, digest, type(model).__name__)
    return compiled.program


def load_program(path):
    """The golden.program_file.ProgramFile at ``path``."""
    return read_program(path)



class _CallableModule(types.ModuleType):
    """``import adderhw.compile`` before ``adderhw.compile(...)`` leaves the package attribute this
    module (the import system sets it after adderhw's lazy ``__getattr__`` ran, or instead of it);
    calling the module then calls :func:`compile`."""

    def __call__(self, *args, **kwargs):
        return compile(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
