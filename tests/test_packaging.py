"""What a user gets from `pip install launchops`: the command, the schema, no wandb unless asked."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import make_repo

ROOT = Path(__file__).resolve().parent.parent

# Runs the CLI in a fresh interpreter, then reports whether wandb was ever imported.
PROBE = """
import sys
from reconciler.cli import main
try:
    main(sys.argv[1:], prog_name="launchops")
except SystemExit:
    pass
print("WANDB-IMPORTED" if any(m == "wandb" or m.startswith("wandb.") for m in sys.modules) else "NO-WANDB")
"""


@pytest.mark.parametrize("args", [["--help"], ["validate"], ["plan"], ["plan", "--backend", "wandb"],
                                  ["status"], ["validate", "--format", "json"]])
def test_help_validate_plan_status_never_import_wandb(tmp_path: Path, args: list[str]) -> None:
    repo = make_repo(tmp_path / "repo")
    out = subprocess.run([sys.executable, "-c", PROBE, "-C", str(repo), *args], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert out.stdout.strip().endswith("NO-WANDB"), out.stdout + out.stderr


def test_wheel_carries_the_schema(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    wheel = next(tmp_path.glob("launchops-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "reconciler/launch-spec.v1.schema.json" in names
    # what `launchops init` writes (reconciler/scaffold.py)
    for template in ("launchops.toml", "launches/_defaults.yaml", "launches/example/hello.yaml",
                     "github/workflows/launchops-apply.yml", "github/workflows/launchops-preview.yml",
                     "github/workflows/launchops-sync.yml"):
        assert f"reconciler/templates/{template}" in names
    assert "reconciler/backends/local.py" in names and "reconciler/render/markdown.py" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "launchops = reconciler.__main__:main" in zipfile.ZipFile(wheel).read(entry).decode()
