"""A generator of realistic launch specs: what a team's repository looks like after a year.

Folder defaults at two and three levels (repository, team, sometimes area), nested config,
template variables, priorities as names and numbers, a mix of job and docker_image launches,
explicit ids, labels, descriptions and comments. Deterministic for a given count, seed and shape,
so a run can be compared with the last one.

Shapes (`generate(..., shape=)`; a target that holds only on one shape is not met):

  base          the above: 50 specs per folder, 20 teams, defaults at two and three levels
  flat          every spec in one folder, no defaults file: each spec says its own entity,
                project and queues
  deep          six folder levels (group/team/area/project/stage), defaults at four of them,
                20 specs per folder
  wide          20 team folders of 100 specs each (team defaults), every spec with a
                description, template variables, a nested config and comments: long files
  small-files   three-line specs (apiVersion, launch with a job, one config value) under base's
                folders and defaults
  large-files   specs of ~250 lines: a model's layers, a data mixture, an evaluation suite
  multi-doc     ten documents per file, each with its own id
  matrix-light  one matrix spec of four cells (2 x 2) per file
"""
from __future__ import annotations

import random
import subprocess
from collections.abc import Callable
from pathlib import Path

TEAMS = ("vision", "nlp", "speech", "recsys", "rl", "infra", "safety", "search", "ads", "forecast",
         "robotics", "genomics", "fraud", "maps", "health", "music", "video", "ocr", "chat", "code")
AREAS = ("eval", "train", "sweep", "smoke", "distill", "finetune", "export", "bench", "ablation", "data")
PRIORITIES = ("critical", "high", "medium", "low", 0, 1, 2, 3)


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _spec(rng: random.Random, team: str, area: str, n: int) -> str:
    lines = ["# yaml-language-server: $schema=../../../schemas/launch-spec.v1.schema.json",
             "apiVersion: launchops/v1"]
    if rng.random() < 0.3:
        lines.append(f"id: {team}/{area}/run-{n:05d}")
    lines.append(f"description: {area} run {n} for {team}, kept by the {team} team")
    if rng.random() < 0.5:
        lines.append(f"labels: {{owner: {team}-oncall, tier: t{rng.randint(1, 3)}}}")
    lines.append("launch:")
    if rng.random() < 0.6:
        lines.append(f"  job: acme-ml/{team}-{area}/{area}-job:v{rng.randint(1, 40)}")
    else:
        lines.append(f"  docker_image: ghcr.io/acme-ml/{team}-{area}:{rng.randint(1, 9)}.{rng.randint(0, 20)}.0")
        if rng.random() < 0.5:
            lines.append(f"  entry_point: [python, -m, {team}.{area}, --shard, \"{n % 16}\"]")
    priority = rng.choice(PRIORITIES)
    lines.append(f"  priority: {priority}")
    if rng.random() < 0.3:
        lines.append(f"  name: {team}-{area}-{n}")
    if rng.random() < 0.7:
        lines += ["  template_variables:", f"    gpus: {rng.choice((1, 2, 4, 8))}",
                  f"    image_tag: \"2026.{rng.randint(1, 12):02d}\""]
        if rng.random() < 0.5:
            lines.append(f"    memory_gb: {rng.choice((32, 64, 128, 256))}")
    lines += ["  config:", "    overrides:", "      run_config:",
              f"        lr: {rng.choice((0.1, 0.01, 0.001, 0.0003, 3.0e-5))}",
              f"        batch_size: {rng.choice((16, 32, 64, 128, 256))}",
              f"        seed: {n}",
              f"        dataset: {team}-{area}-v{rng.randint(1, 5)}",
              "        optimizer:",
              f"          name: {rng.choice(('adamw', 'sgd', 'lion'))}",
              f"          betas: [0.9, 0.{rng.choice((95, 98, 99, 999))}]",
              f"          weight_decay: {rng.choice((0.0, 0.01, 0.1))}",
              f"        schedule: {{warmup_steps: {rng.randint(0, 5000)}, max_steps: {rng.randint(10, 500) * 1000}}}"]
    if rng.random() < 0.4:
        lines += ["      entry_point_args:", f"        - --eval-every={rng.randint(100, 5000)}",
                  "        - --log-level=info"]
    if rng.random() < 0.2:
        lines += ["  resource_args:", "    kubernetes:", "      spec:", "        template:", "          spec:",
                  "            nodeSelector: {pool: gpu}"]
    return "\n".join(lines) + "\n"


def _base(launches: Path, count: int, rng: random.Random, spec: Callable[..., str] | None = None) -> None:
    """The base shape (and small-files, with its own spec text): 50 specs per area folder."""
    spec = spec or _spec
    (launches / "_defaults.yaml").write_text(
        "# every spec in the repository\nlaunch:\n  entity: acme-ml\n  project_queue: model-registry\n"
        "labels:\n  owner: ml-platform\n", encoding="utf-8")
    per_folder = 50
    folders = max(1, (count + per_folder - 1) // per_folder)
    written = 0
    for f in range(folders):
        team = TEAMS[f % len(TEAMS)]
        area = AREAS[(f // len(TEAMS)) % len(AREAS)]
        suffix = f // (len(TEAMS) * len(AREAS))
        team_dir = launches / team
        if not (team_dir / "_defaults.yaml").exists():
            team_dir.mkdir(exist_ok=True)
            (team_dir / "_defaults.yaml").write_text(_team_defaults(team), encoding="utf-8")
        folder = team_dir / (area if not suffix else f"{area}-{suffix}")
        folder.mkdir()
        if f % 2 == 0:  # a third level of defaults in half of the folders
            (folder / "_defaults.yaml").write_text(
                f"launch:\n  template_variables:\n    region: us-east-1\n  config:\n    overrides:\n"
                f"      run_config:\n        tracking: {{area: {area}}}\n", encoding="utf-8")
        for _ in range(min(per_folder, count - written)):
            (folder / f"run-{written:05d}.yaml").write_text(spec(rng, team, area, written), encoding="utf-8")
            written += 1


def _team_defaults(team: str) -> str:
    return (f"launch:\n  queue_name: {team}-a100\n  project: {team}\n  resource: kubernetes\n"
            f"labels:\n  team: {team}\n")


def _own_launch(text: str, team: str) -> str:
    """A spec that says itself what folder defaults would have given it."""
    return text.replace("\nlaunch:\n", f"\nlaunch:\n  entity: acme-ml\n  project: {team}\n  queue_name: {team}-a100\n"
                        "  project_queue: model-registry\n  resource: kubernetes\n", 1)


def _flat(launches: Path, count: int, rng: random.Random) -> None:
    for n in range(count):
        team, area = TEAMS[n % len(TEAMS)], AREAS[(n // len(TEAMS)) % len(AREAS)]
        (launches / f"{team}-{area}-{n:05d}.yaml").write_text(_own_launch(_spec(rng, team, area, n), team),
                                                               encoding="utf-8")


def _deep(launches: Path, count: int, rng: random.Random) -> None:
    """launches/<group>/<team>/<area>/<project>/<stage>/: defaults at the root, group, team and
    project levels; 20 specs per stage folder."""
    (launches / "_defaults.yaml").write_text("launch:\n  entity: acme-ml\n  project_queue: model-registry\n",
                                             encoding="utf-8")
    per_folder, written, f = 20, 0, 0
    while written < count:
        group, team = ("research", "product", "platform")[f % 3], TEAMS[(f // 3) % len(TEAMS)]
        area, project = AREAS[(f // 60) % len(AREAS)], f"p{(f // 600) % 4}"
        stage = ("dev", "staging", "prod")[(f // 2400) % 3] + (f"-{f // 7200}" if f >= 7200 else "")
        levels = [launches / group, launches / group / team, launches / group / team / area,
                  launches / group / team / area / project]
        folder = levels[-1] / stage
        folder.mkdir(parents=True)
        texts = {levels[0]: f"labels:\n  group: {group}\n",
                 levels[1]: _team_defaults(team),
                 levels[3]: f"launch:\n  template_variables:\n    project: {project}\n  config:\n    overrides:\n"
                            f"      run_config:\n        tracking: {{project: {project}, area: {area}}}\n"}
        for level, text in texts.items():
            if not (level / "_defaults.yaml").exists():
                (level / "_defaults.yaml").write_text(text, encoding="utf-8")
        for _ in range(min(per_folder, count - written)):
            (folder / f"run-{written:05d}.yaml").write_text(_spec(rng, team, area, written), encoding="utf-8")
            written += 1
        f += 1


def _wide_spec(rng: random.Random, team: str, area: str, n: int) -> str:
    """A long spec: description over several lines, comments, template variables, nested config."""
    text = _spec(rng, team, area, n)
    extra = ["    # evaluation and data settings, reviewed by the team each quarter",
             "    evaluation:",
             f"      suites: [{', '.join(rng.sample(('mmlu', 'gsm8k', 'hellaswag', 'arc', 'piqa', 'boolq'), 3))}]",
             f"      every_steps: {rng.choice((500, 1000, 2000))}",
             "      thresholds:",
             f"        accuracy: 0.{rng.randint(5, 9)}{rng.randint(1, 9)}",
             f"        loss: {rng.randint(1, 3)}.{rng.randint(0, 9)}5",
             "    data:",
             f"      mixture: {{web: 0.{rng.randint(4, 6)}, code: 0.2, books: 0.1}}",
             f"      tokens: {rng.randint(1, 300)}000000000",
             f"      shards: [{', '.join(f'gs://acme-data/{team}/shard-{i:03d}' for i in range(rng.randint(3, 8)))}]"]
    lines = text.splitlines()
    at = lines.index("  config:") + 1
    lines[at:at] = extra
    lines.insert(2, "# owner: see CODEOWNERS; changes go through the team's review")
    desc = next(i for i, line in enumerate(lines) if line.startswith("description:"))
    lines[desc] = ("description: >\n  " + lines[desc][len("description: "):] + ".\n  Runs on the team's A100 "
                   "pool; results go to the weekly report.")
    if not any(line.startswith("  template_variables:") for line in lines):
        lines.insert(lines.index("launch:") + 1, f"  template_variables: {{gpus: {rng.choice((1, 8))}}}")
    return "\n".join(lines) + "\n"


def _wide(launches: Path, count: int, rng: random.Random) -> None:
    (launches / "_defaults.yaml").write_text("launch:\n  entity: acme-ml\n  project_queue: model-registry\n",
                                             encoding="utf-8")
    per_team = -(-count // len(TEAMS))
    for n in range(count):
        team = TEAMS[n // per_team]
        folder = launches / team
        if not folder.exists():
            folder.mkdir()
            (folder / "_defaults.yaml").write_text(_team_defaults(team), encoding="utf-8")
        area = AREAS[n % len(AREAS)]
        (folder / f"{area}-{n:05d}.yaml").write_text(_wide_spec(rng, team, area, n), encoding="utf-8")


def _small_spec(rng: random.Random, team: str, area: str, n: int) -> str:
    return (f"apiVersion: launchops/v1\nlaunch:\n  job: acme-ml/{team}-{area}/{area}-job:v{rng.randint(1, 40)}\n"
            f"  config: {{seed: {n}}}\n")


def _large_spec(rng: random.Random, team: str, area: str, n: int) -> str:
    lines = _spec(rng, team, area, n).splitlines()
    model = ["    model:", f"      name: {team}-{area}-{rng.choice(('1b', '7b', '13b'))}", "      layers:"]
    for i in range(24):
        model += [f"        - {{index: {i}, kind: {rng.choice(('attention', 'mlp', 'moe'))}, "
                  f"width: {rng.choice((1024, 2048, 4096))}, heads: {rng.choice((8, 16, 32))}, "
                  f"dropout: 0.{rng.randint(0, 3)}}}"]
    model += ["    data_mixture:"]
    for i in range(40):
        model += [f"      - name: source-{i:02d}", f"        weight: 0.0{rng.randint(1, 9)}",
                  f"        path: gs://acme-data/{team}/{area}/source-{i:02d}/",
                  "        filters: [dedup, pii, lang-en]"]
    model += ["    eval_suite:"]
    for i in range(20):
        model += [f"      task_{i:02d}: {{shots: {rng.randint(0, 5)}, metric: accuracy, limit: {rng.randint(1, 9)}00}}"]
    at = lines.index("  config:") + 1
    lines[at:at] = model
    return "\n".join(lines) + "\n"


def _multi_doc(launches: Path, count: int, rng: random.Random) -> None:
    (launches / "_defaults.yaml").write_text(
        "launch:\n  entity: acme-ml\n  project_queue: model-registry\n", encoding="utf-8")
    per_file, n = 10, 0
    while n < count:
        team, area = TEAMS[(n // per_file) % len(TEAMS)], AREAS[(n // (per_file * len(TEAMS))) % len(AREAS)]
        folder = launches / team
        if not folder.exists():
            folder.mkdir()
            (folder / "_defaults.yaml").write_text(_team_defaults(team), encoding="utf-8")
        docs = []
        for _ in range(min(per_file, count - n)):
            text = _spec(rng, team, area, n)
            if "\nid: " not in text:
                text = text.replace("\napiVersion: launchops/v1\n",
                                    f"\napiVersion: launchops/v1\nid: {team}/{area}/doc-{n:05d}\n")
            docs.append(text)
            n += 1
        (folder / f"{area}-{n // per_file:04d}.yaml").write_text("---\n".join(docs), encoding="utf-8")


def _matrix_light(launches: Path, count: int, rng: random.Random) -> None:
    """One matrix spec of 2 x 2 cells per file: count // 4 files."""
    (launches / "_defaults.yaml").write_text(
        "launch:\n  entity: acme-ml\n  project_queue: model-registry\n", encoding="utf-8")
    for f in range(max(1, count // 4)):
        team, area = TEAMS[f % len(TEAMS)], AREAS[(f // len(TEAMS)) % len(AREAS)]
        folder = launches / team
        if not folder.exists():
            folder.mkdir()
            (folder / "_defaults.yaml").write_text(_team_defaults(team), encoding="utf-8")
        lr = rng.sample(("0.1", "0.01", "0.001", "0.0003", "3.0e-05"), 2)
        (folder / f"{area}-grid-{f:05d}.yaml").write_text(
            f"apiVersion: launchops/v1\ndescription: {area} grid {f} for {team}\n"
            f"matrix:\n  axes: {{lr: [{', '.join(lr)}], seed: [{f}, {f + 1}]}}\n"
            f"launch:\n  job: acme-ml/{team}-{area}/{area}-job:v{rng.randint(1, 40)}\n"
            f"  priority: {rng.choice(PRIORITIES)}\n"
            "  config:\n    overrides:\n      run_config:\n        lr: \"${matrix.lr}\"\n"
            "        seed: \"${matrix.seed}\"\n        tag: \"lr-${matrix.lr}\"\n"
            f"        batch_size: {rng.choice((16, 32, 64))}\n", encoding="utf-8")


SHAPES: dict[str, Callable[[Path, int, random.Random], None]] = {
    "base": _base,
    "flat": _flat,
    "deep": _deep,
    "wide": _wide,
    "small-files": lambda launches, count, rng: _base(launches, count, rng, _small_spec),
    "large-files": lambda launches, count, rng: _base(launches, count, rng, _large_spec),
    "multi-doc": _multi_doc,
    "matrix-light": _matrix_light,
}


def generate(root: Path, count: int, seed: int = 6, shape: str = "base") -> Path:
    """`count` specs (launches: a matrix's cells count) under root/launches, in the given shape, in a
    fresh git repository with one commit; returns root."""
    rng = random.Random(seed)
    launches = root / "launches"
    launches.mkdir(parents=True)
    SHAPES[shape](launches, count, rng)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "launchops bench")
    _git(root, "config", "user.email", "bench@launchops.invalid")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", f"{count} generated specs ({shape})")
    return root


if __name__ == "__main__":  # python -m benchmarks.generator DIR COUNT [SHAPE]: a repository to look at
    import sys

    print(generate(Path(sys.argv[1]), int(sys.argv[2]), shape=sys.argv[3] if len(sys.argv) > 3 else "base"))
