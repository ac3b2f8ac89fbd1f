"""The torch-free layers (plan, report, schema and config, the package data, the import graph) are tested
with torch unimportable: their test files run again in a subprocess whose import system refuses torch
(tests/torch_blocked.py), so conftest.py and these tests must not need it either. The suite collects them
there (every import at module level); the long tier (`pytest -m long`) runs them whole."""

import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TORCH_FREE = ("test_plan.py", "test_report.py", "test_protocols.py", "test_config.py", "test_variants.py",
              "test_tables.py", "test_packaged.py", "test_import_graph.py")


def test_the_torch_free_tests_collect_without_torch():
    proc = subprocess.run([sys.executable, "torch_blocked.py", *TORCH_FREE, "--collect-only"], cwd=TESTS,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " tests collected" in proc.stdout.splitlines()[-1], proc.stdout[-2000:]


@pytest.mark.long
def test_the_torch_free_tests_pass_without_torch():
    proc = subprocess.run([sys.executable, "torch_blocked.py", *TORCH_FREE], cwd=TESTS, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout.splitlines()[-1] and "skipped" not in proc.stdout.splitlines()[-1]


def test_the_blocker_blocks(tmp_path):
    (tmp_path / "test_needs_torch.py").write_text("import torch\n\ndef test_x():\n    pass\n")
    proc = subprocess.run([sys.executable, str(TESTS / "torch_blocked.py"), str(tmp_path / "test_needs_torch.py"),
                           "--rootdir", str(tmp_path), "-c", "/dev/null"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0 and "blocked: a torch-free test imported it" in proc.stdout
