"""What the engine runs: a built-in trained network, or a user's program file with the user's images.

``adderhw engine``, ``run`` and ``build --top engine`` take either ``--network NAME`` (a trained
digits or MNIST network compiled here, golden.network_program) or ``--program FILE`` (a program
file written by ``adderhw compile``, golden.program_file) with ``--data FILE.npz`` (``x``: float
images (N, C, H, W) in the layout the model was calibrated on; ``y``: labels, optional, for the
accuracy). A :class:`Workload` is the same to every flow after that.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adderhw.base.errors import BadParameter
from adderhw.base.pe_kind import pe_kind
from adderhw.golden.network_program import network_program

__all__ = ["Workload", "network_workload", "program_workload", "program_pe", "check_program_data"]


@dataclass
class Workload:
    """``program`` (golden.program.Program); ``x`` float images and ``y`` labels (or None) of the
    test set; ``float_accuracy`` of the float model on them (None for a program file: its float
    model is the user's); ``pe`` the array's kind the program needs; ``source`` what a result's
    JSON says about where the program came from; ``what`` the workload in words."""
    program: object
    x: np.ndarray
    y: object
    float_accuracy: object
    pe: str
    source: dict
    what: str

    @property
    def labelled(self):
        return self.y is not None

    @property
    def exact_depths(self):
        """Whether the engine's tables are built exactly as deep as the program needs
        (golden.network_program.engine_for): a program file's are, so that a large user network
        fits the block RAM; the built-in networks keep the power-of-two depths their results were
        made with."""
        return "program_file" in self.source


def program_pe(program):
    """The PE kind a program's engine is built with: "sad" when any layer is an adder layer (its
    multiplier layers then run on the MAC rows), else "mac" (a CNN)."""
    return "sad" if any(getattr(layer, "op", None) == "add" for layer in program.layers) else "mac"


def check_program_data(program, data, data_needed=True):
    """Refuse, in one sentence, a --program without its --data (where images are needed) or a
    --data without a --program."""
    if program is None and data is not None:
        raise BadParameter(f"--data {data} gives images for --program, which is not given")
    if program is not None and data is None and data_needed:
        raise BadParameter(f"--program {program} needs --data FILE.npz with the images to run (x, and y for the "
                           f"accuracy)")


def network_workload(network, pe, width, seed=0, epochs=0, progress=print, **options):
    """A built-in trained network's workload (golden.network_program.network_program's options)."""
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    data, model, program, net = network_program(network, pe, width, seed, epochs, progress, **options)
    with torch.no_grad():
        # the trained float network's (for QAT too: the fine-tuned copy without its quantisers is not
        # a network anyone runs)
        float_acc = float(np.mean(net.model(torch.tensor(data.x_test)).numpy().argmax(axis=1) == data.y_test))
    return Workload(program, data.x_test, data.y_test, float_acc, pe, {"weights": net.record()},
                    f"the trained {network} {pe_kind(pe).network}")


def program_workload(path, data=None):
    """The workload of the program file at ``path`` with the images of ``data`` (.npz/.npy; none:
    no images, for a build)."""
    # not at the top: importing adderhw.compile binds the name adderhw.compile to the module, which would
    # hide the function adderhw/__init__ serves under that name (adderhw.engine imports this module)
    from adderhw.compile import load_calibration, load_program
    pf = load_program(path)
    program = pf.program
    if data is not None:
        x, y = load_calibration(data)
        if tuple(x.shape[1:]) != tuple(program.input_shape):
            raise BadParameter(f"--data {data} holds images of shape {tuple(x.shape[1:])}, but the program takes "
                               f"{tuple(program.input_shape)}")
    else:
        x, y = np.zeros((0, *program.input_shape), np.float32), None
    source = {"program_file": str(path), "program_name": program.name, "source_model": pf.source_model,
              "source_sha256": pf.source_sha256, "data": None if data is None else str(data)}
    return Workload(program, x, y, None, program_pe(program), source, f"program {Path(path).name}")
