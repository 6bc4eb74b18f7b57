"""A user's PyTorch model, named on the command line (``adderhw compile MODEL``).

``MODEL`` is one of:

* ``file.py`` or ``file.py:NAME``: the Python file is run as a module (its directory goes on the
  import path while it loads, so it may import its neighbours), and ``NAME`` (default ``model``)
  is taken from it: an ``nn.Module`` instance, or a class or function that makes one when called
  with no arguments;
* ``file.pt`` / ``file.pth``: a whole module saved with ``torch.save(model, path)``. Unpickling runs
  code from the file, so this form is only for files you trust, and the module's classes must be
  importable.

``--weights FILE`` then loads a ``state_dict``: a ``.pt``/``.pth`` saved with
``torch.save(model.state_dict(), path)`` (read with ``weights_only=True``), or a ``.npz`` of arrays
named like the state_dict's entries.
"""
import importlib.util
import sys
from pathlib import Path

import numpy as np

from adderhw.base.errors import BadParameter

__all__ = ["load_user_model"]


def _module_from_file(path, name):
    spec = importlib.util.spec_from_file_location(f"adderhw_user_model_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise BadParameter(f"model file {str(path)!r} fails to load: {type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(str(path.parent))
    if not hasattr(module, name):
        names = [n for n, v in vars(module).items() if not n.startswith("_") and (callable(v) or _is_module(v))]
        raise BadParameter(f"model file {str(path)!r} defines no {name!r}; name one of its objects with "
                           f"{path.name}:NAME (it has {', '.join(sorted(names)[:8]) or 'none'})")
    return getattr(module, name)


def _is_module(value):
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    return isinstance(value, torch.nn.Module)


def load_user_model(spec, weights=None):
    """The ``nn.Module`` that ``spec`` names (module docstring), with ``weights`` loaded, in eval mode."""
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    text = str(spec)
    path_text, _, name = text.partition(":") if text.count(":") == 1 and not Path(text).exists() else (text, "", "")
    path = Path(path_text)
    if not path.is_file():
        raise BadParameter(f"model {text!r} must be a .py file (optionally file.py:NAME) or a .pt/.pth file saved "
                           f"with torch.save, and {path_text!r} is not a file")
    if path.suffix == ".py":
        obj = _module_from_file(path, name or "model")
        if not _is_module(obj) and callable(obj):
            try:
                obj = obj()
            except Exception as exc:
                raise BadParameter(f"model {text!r}: calling {name or 'model'}() fails: {type(exc).__name__}: "
                                   f"{exc}") from None
    elif path.suffix in (".pt", ".pth"):
        if name:
            raise BadParameter(f"model {text!r}: a saved module takes no :NAME")
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise BadParameter(f"model file {str(path)!r} is not a module saved with torch.save: "
                               f"{type(exc).__name__}: {exc}") from None
    else:
        raise BadParameter(f"model {text!r} must be a .py file (optionally file.py:NAME) or a .pt/.pth file, not a "
                           f"{path.suffix or 'file without a suffix'}")
    if not _is_module(obj):
        raise BadParameter(f"model {text!r} gives a {type(obj).__name__}, not a torch.nn.Module")
    if weights is not None:
        _load_weights(obj, Path(weights))
    return obj.eval()


def _load_weights(model, path):
    import torch    # torch: deferred (start-up, golden/__init__ docstring)
    if not path.is_file():
        raise BadParameter(f"--weights {str(path)!r} is not a file")
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as f:
                state = {k: torch.tensor(f[k]) for k in f.files if not k.startswith("__")}
        elif path.suffix in (".pt", ".pth"):
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise BadParameter(f"--weights {str(path)!r} must be a .pt/.pth state_dict or a .npz of arrays")
    except BadParameter:
        raise
    except Exception as exc:
        raise BadParameter(f"--weights {str(path)!r} cannot be read: {type(exc).__name__}: {exc}") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise BadParameter(f"--weights {str(path)!r} do not fit the model: {' '.join(first[:3])}") from None
