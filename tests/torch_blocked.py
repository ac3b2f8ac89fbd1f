"""Run pytest with torch (and torchvision) made unimportable: `python tests/torch_blocked.py FILE...`.

tests/test_torch_free.py runs the torch-free test files this way, so the plan, report, schema and
config layers are shown to work where torch is not installed."""

import importlib.abc
import sys

BLOCKED = ("torch", "torchvision")


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named '{name}' (blocked: a torch-free test imported it)")
        return None


if __name__ == "__main__":
    sys.meta_path.insert(0, _Block())
    import pytest

    sys.exit(pytest.main([*sys.argv[1:], "-q", "-n", "0", "-p", "no:cacheprovider"]))
