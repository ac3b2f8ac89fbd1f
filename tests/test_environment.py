"""requirements.lock is what the README's install command installs, and it covers pyproject's dependencies."""

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"requirements.lock: '{line}' is not name==version"
            pins[_norm(name)] = version
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lock_pins_every_dependency_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    missing = [d for d in deps if _norm(Requirement(d).name) not in _lock()]
    assert not missing, f"add to requirements.lock (pip freeze): {missing}"


def test_installed_versions_are_the_locked_ones():
    """The README installs with `-c requirements.lock`: what is installed must be exactly the lock."""
    wrong = {}
    for name, version in _lock().items():
        try:
            have = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # platform-specific wheels (e.g. CUDA libraries) may be absent elsewhere
        if have != version:
            wrong[name] = (have, version)
    assert not wrong, f"installed != requirements.lock (installed, locked): {wrong}"
