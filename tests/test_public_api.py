"""Every public module states its API in ``__all__``, and every name there exists."""

import importlib
import pkgutil

import pytest

import suandian

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(suandian.__path__, "suandian.")
    if not m.name.rsplit(".", 1)[-1].startswith("_")
)


@pytest.mark.parametrize("name", MODULES)
def test_module_declares_and_exports_its_api(name: str) -> None:
    module = importlib.import_module(name)
    if (
        name.count(".") == 1
        and not hasattr(module, "__all__")
        and module.__file__
        and (module.__file__.endswith("__init__.py"))
    ):
        return  # a namespace-like package docstring with nothing to export
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"
