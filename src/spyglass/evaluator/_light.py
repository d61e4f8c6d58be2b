"""Import single nltk modules without running ``nltk/__init__.py``.

``import nltk.stem.porter`` executes nltk's package ``__init__``, which imports nearly all of
nltk and, through it, scipy: about 2 s on a quiet core and 3-4 s on a busy one, paid by every
fresh process (and by the forkserver that starts the scoring workers). The modules the
evaluator uses (``nltk.stem.porter``, ``nltk.translate.bleu_score`` and what they import) need
none of that; loaded on their own they take about 0.1 s.

`import_light` loads such a module with empty stand-ins for its parent packages, then takes
every ``nltk*`` entry it added back out of ``sys.modules``: the caller keeps the module
object, and a later ``import nltk`` anywhere in the process still gets the real, complete
package. When nltk is already imported, the ordinary import is used. The same code is
executed either way, so scores are identical.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types

__all__ = ["import_light"]

_lock = threading.Lock()
_loaded: dict[str, types.ModuleType] = {}


def import_light(name: str) -> types.ModuleType:
    """The module ``name`` (e.g. ``"nltk.stem.porter"``), loaded without its packages' inits.

    Raises:
        ImportError: the module or its distribution is not installed.
    """
    module = _loaded.get(name)
    if module is not None:
        return module
    top = name.partition(".")[0]
    if top in sys.modules:  # the real package is there: nothing to save
        return importlib.import_module(name)
    with _lock:
        module = _loaded.get(name)
        if module is not None:
            return module
        spec = importlib.util.find_spec(top)  # finds the package without executing it
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"No module named {top!r}", name=top)
        roots = list(spec.submodule_search_locations)
        before = set(sys.modules)
        parts = name.split(".")
        for depth in range(1, len(parts)):
            package = ".".join(parts[:depth])
            stub = types.ModuleType(package)
            stub.__path__ = [
                "/".join([root, *parts[1:depth]]) for root in roots
            ]  # a package to the import system, with no code run
            sys.modules[package] = stub
        try:
            module = importlib.import_module(name)
        finally:
            for key in set(sys.modules) - before:
                if key == top or key.startswith(top + "."):
                    del sys.modules[key]
            for depth in range(1, len(parts)):
                sys.modules.pop(".".join(parts[:depth]), None)
        _loaded[name] = module
        return module
