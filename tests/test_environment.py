"""requirements.lock is what the README's install command installs, and it covers pyproject's dependencies."""

import importlib.metadata
import re
import tomllib

import pytest
from packaging.requirements import Requirement

from helpers import REPO


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


def _env_pip_lines() -> list[str]:
    import yaml

    env = yaml.safe_load((REPO / "workflow" / "envs" / "l2l.yaml").read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))


def test_rule_environment_installs_this_checkout_from_snakemakes_copy(tmp_path):
    """workflow/envs/l2l.yaml is read from a copy under .snakemake/conda/: its pip lines must name the checkout
    through ${L2L_ROOT} (set by the Snakefile), not a relative path; pip resolves them (dry run, no install)."""
    import os
    import subprocess
    import sys

    lines = _env_pip_lines()
    assert all("${L2L_ROOT}" in line for line in lines) and not any(" ." in line for line in lines)
    req = tmp_path / "requirements.txt"  # what conda hands pip: the pip section as a requirements file
    req.write_text("\n".join(lines) + "\n")
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-build-isolation",
                          "-r", str(req)], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "L2L_ROOT": str(REPO)}, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "Would install l2l" in res.stdout


def test_snakemake_creates_the_rule_environment_where_conda_exists(tmp_path):
    import shutil
    import subprocess
    import sys

    if shutil.which("conda") is None:
        pytest.skip("conda is not installed (no conda channel is reachable from this machine); "
                    "workflow/envs/l2l.yaml is checked by the pip dry run above")
    res = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory",
                          str(tmp_path), "--sdm", "conda", "--conda-create-envs-only", "--cores", "1", "all"],
                         capture_output=True, text=True, timeout=3000)
    assert res.returncode == 0, res.stderr[-3000:]


# the Python floor is Snakemake's (issue 13, item 15)
def _floor(spec: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.search(r">=\s*([\d.]+)", spec).group(1).split("."))


def test_python_floor_matches_snakemake_and_the_docs():
    ours = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    snakemake = importlib.metadata.metadata("snakemake")["Requires-Python"]
    assert _floor(ours) >= _floor(snakemake), (ours, snakemake)
    floor = ".".join(map(str, _floor(ours)))
    for doc in ("README.md", "environment.yml", "docs/performance.md", "config/README.md"):
        said = re.findall(r"python\W{0,3}(?:>=|≥|=)\s*(3\.\d+)", (REPO / doc).read_text(), re.IGNORECASE)
        assert all(tuple(map(int, v.split("."))) >= _floor(ours) for v in said), (doc, said)
    assert f"Python ≥ {floor}" in (REPO / "README.md").read_text()
    assert f"python={floor}" in (REPO / "environment.yml").read_text()
