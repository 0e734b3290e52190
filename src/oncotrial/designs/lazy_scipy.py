"""``scipy.special`` imported on first use, so that a command that never evaluates a special
function (``oncotrial simulate --design boin``) does not pay scipy's ~0.3 s of imports.

The module object is the standard library's lazy module (:class:`importlib.util.LazyLoader`):
attribute access executes the real module once, after which it is the ordinary
``scipy.special`` in ``sys.modules``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """``name`` as a module that is executed when one of its attributes is first read."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:  # pragma: no cover - scipy is a dependency
        raise ImportError(f"no module named {name!r}")
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module


special = lazy_module("scipy.special")
