"""The benchmark generator's shapes make valid repositories of the size asked for: a shape whose
specs did not load would measure an error message, not a validate."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: benchmarks/

from benchmarks.generator import SHAPES, generate  # noqa: E402
from benchmarks.run import _peer_files  # noqa: E402
from reconciler.settings import load_settings  # noqa: E402
from reconciler.specs import load_specs  # noqa: E402


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_each_shape_loads_the_count_asked_for(tmp_path: Path, shape: str) -> None:
    repo = generate(tmp_path / shape, 40, shape=shape)
    loaded = load_specs(load_settings(repo))
    assert not loaded.problems, loaded.problems[:3]
    assert not loaded.warnings, loaded.warnings[:3]
    assert len(loaded.specs) == 40
    where, files = _peer_files(repo, tmp_path / "peer")
    # check-jsonschema is given one document per file: the spec files, or each document of them
    assert len(files) == (40 if shape != "matrix-light" else 10)
    assert all((where / f).is_file() for f in files)
