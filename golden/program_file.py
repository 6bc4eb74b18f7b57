"""The program file: a compiled program, versioned and self-describing, in one ``.npz``.

Layout (NumPy's ``.npz``, read with ``allow_pickle=False``; nothing in it is executable):

* ``header``: a 0-d unicode array holding one JSON object:

  - ``format``: ``"adderhw-program"``; ``version``: :data:`FORMAT_VERSION` (an int; a reader refuses
    a file with a newer version, naming the file, its version and the one it reads);
  - the program: ``name``, ``width`` (signed bits of every activation and weight), ``input_frac``
    (the image is round(x·2^input_frac), saturated), ``input_shape`` (C, H, W), ``classes``,
    ``scale_bits`` and ``bias_bits`` (signed widths of M and B), ``requant`` ("mul" or "shift"),
    ``shift_terms`` and ``rounding`` ("half_up" or "half_even": how the requantisation rounds a
    tie); ``logit_frac`` (the logits' scale) or null;
  - ``steps``: one object per step, in order, with ``kind`` ("layer" or "residual"), ``name``,
    ``src`` (null: the previous step; -1: the input) and ``out_shape``; a layer adds ``op``,
    ``in_hw``, ``kernel``, ``cin``, ``cout``, ``stride``, ``padding``, ``shift``, ``relu``, ``pool``
    and ``x_shift`` (a list or null); a residual add adds ``skip``, ``shape``, ``main_shift``,
    ``skip_shift``, ``shift``, ``relu`` and ``pool`` (golden.program's semantics); each step may
    carry ``scales``: {x_frac, w_frac, out_frac, group_fracs} as golden.compiler.LayerScales has
    them (for a residual add: x_frac the main operand's, w_frac the skip's);
  - ``kept``: the tensors the engine must keep for a later reader (golden.program.Program.kept);
  - ``source``: {``model``: the class name, ``sha256``: :func:`state_dict_sha256` of the model it
    was compiled from, or null};
* per layer step i: ``step{i}.weights`` int64 (cout, cin, k, k), ``step{i}.scale`` and
  ``step{i}.bias`` int64 (cout,).

Version history: 1, this layout without ``rounding`` (read as "half_up", the only rounding then);
2, ``rounding`` added.
"""
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adderhw.base.errors import BadParameter

from .trained import weights_sha256
from .program import LayerProgram, Program, ResidualAdd

__all__ = ["FORMAT", "FORMAT_VERSION", "ProgramFile", "write_program", "read_program", "state_dict_sha256"]

FORMAT = "adderhw-program"
FORMAT_VERSION = 2


def state_dict_sha256(model):
    """SHA-256 (hex) of a torch model's weights: golden.trained.weights_sha256 of its
    ``state_dict()`` (the one hash of weights in adderhw: names, dtypes, shapes and bytes, in name
    order), so a program file names the same weights file that ``adderhw train`` writes."""
    return weights_sha256(model.state_dict())


@dataclass(frozen=True, eq=False)
class ProgramFile:
    """What :func:`read_program` returns: the program, the logits' scale, the per-step scales
    (dicts, or None) and the source model's hash (or None)."""
    program: Program
    logit_frac: int = None
    scales: tuple = None
    source_sha256: str = None
    source_model: str = None
    version: int = FORMAT_VERSION


def _scales_dict(s):
    if s is None:
        return None
    return {"x_frac": int(s.x_frac), "w_frac": int(s.w_frac), "out_frac": int(s.out_frac),
            "group_fracs": None if s.group_fracs is None else [int(f) for f in s.group_fracs]}


def write_program(path, program, logit_frac=None, scales=None, source_sha256=None, source_model=None):
    """Write ``program`` (golden.program.Program) to ``path`` (a ``.npz``; see the module docstring).
    ``scales``: golden.compiler.Compiled.scales (one per step), optional."""
    if not isinstance(program, Program):
        raise BadParameter(f"program must be a golden.program.Program, not {type(program).__name__}")
    if scales is not None and len(scales) != len(program.layers):
        raise BadParameter(f"scales must have one entry per step ({len(program.layers)}), not {len(scales)}")
    arrays, steps = {}, []
    for i, step in enumerate(program.layers):
        common = {"name": step.name, "src": None if step.src is None else int(step.src),
                  "out_shape": [int(v) for v in step.out_shape], "relu": bool(step.relu), "pool": step.pool,
                  "shift": int(step.shift)}
        if isinstance(step, ResidualAdd):
            common.update(kind="residual", skip=int(step.skip), shape=[int(v) for v in step.shape],
                          main_shift=int(step.main_shift), skip_shift=int(step.skip_shift))
        else:
            common.update(kind="layer", op=step.op, in_hw=[int(v) for v in step.in_hw], kernel=int(step.kernel),
                          cin=int(step.cin), cout=int(step.cout), stride=int(step.stride), padding=int(step.padding),
                          x_shift=None if step.x_shift is None else [int(d) for d in step.x_shift])
            arrays[f"step{i}.weights"] = np.asarray(step.weights, dtype=np.int64)
            arrays[f"step{i}.scale"] = np.asarray(step.scale, dtype=np.int64)
            arrays[f"step{i}.bias"] = np.asarray(step.bias, dtype=np.int64)
        if scales is not None:
            common["scales"] = _scales_dict(scales[i])
        steps.append(common)
    header = {"format": FORMAT, "version": FORMAT_VERSION, "name": program.name, "width": program.width,
              "input_frac": int(program.input_frac), "input_shape": [int(v) for v in program.input_shape],
              "classes": int(program.classes), "scale_bits": program.scale_bits, "bias_bits": program.bias_bits,
              "requant": program.requant, "shift_terms": program.shift_terms, "rounding": program.rounding,
              "logit_frac": None if logit_frac is None else int(logit_frac),
              "steps": steps, "kept": [int(j) for j in program.kept],
              "source": {"model": source_model, "sha256": source_sha256}}
    path = Path(path)
    with open(path, "wb") as f:
        np.savez(f, header=np.array(json.dumps(header, indent=1)), **arrays)
    return path


def read_program(path):
    """The :class:`ProgramFile` in ``path``; refuses, in one sentence naming the file, what is not a
    program file, a newer format version, or a program golden.program refuses."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    except FileNotFoundError:
        raise BadParameter(f"program file {str(path)!r} does not exist") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise BadParameter(f"program file {str(path)!r} is not an .npz program file ({exc})") from None
    try:
        header = json.loads(str(data["header"]))
    except (KeyError, json.JSONDecodeError):
        raise BadParameter(f"program file {str(path)!r} has no readable header; it was not written by "
                           f"adderhw's write_program") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise BadParameter(f"program file {str(path)!r} is not an {FORMAT} file (its format is "
                           f"{header.get('format') if isinstance(header, dict) else None!r})")
    version = header.get("version")
    if not isinstance(version, int) or version < 1:
        raise BadParameter(f"program file {str(path)!r} has format version {version!r}, not a positive integer")
    if version > FORMAT_VERSION:
        raise BadParameter(f"program file {str(path)!r} has format version {version}, newer than the version "
                           f"{FORMAT_VERSION} this adderhw reads; upgrade adderhw to read it")
    try:
        steps, scales = [], []
        for i, s in enumerate(header["steps"]):
            if s["kind"] == "residual":
                steps.append(ResidualAdd(s["name"], s["skip"], tuple(s["shape"]), s["main_shift"], s["skip_shift"],
                                         s["shift"], s["relu"], s["src"], s["pool"]))
            else:
                steps.append(LayerProgram(s["name"], s["op"], data[f"step{i}.weights"], data[f"step{i}.scale"],
                                          data[f"step{i}.bias"], s["shift"], tuple(s["in_hw"]), s["stride"],
                                          s["padding"], s["relu"], s["pool"],
                                          None if s["x_shift"] is None else tuple(s["x_shift"]), s["src"]))
            scales.append(s.get("scales"))
        program = Program(header["name"], header["width"], tuple(steps), header["input_frac"], header["scale_bits"],
                          header["bias_bits"], header["requant"], header["shift_terms"],
                          header["rounding"] if version >= 2 else "half_up")
    except KeyError as exc:
        raise BadParameter(f"program file {str(path)!r} lacks the field {exc.args[0]!r}") from None
    except BadParameter as exc:
        raise BadParameter(f"program file {str(path)!r} holds a program that cannot run: {exc}") from None
    source = header.get("source") or {}
    return ProgramFile(program, header.get("logit_frac"), None if all(s is None for s in scales) else tuple(scales),
                       source.get("sha256"), source.get("model"), version)
