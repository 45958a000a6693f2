"""A generator of realistic launch specs: what a team's repository looks like after a year.

Folder defaults at two and three levels (repository, team, sometimes area), nested config,
template variables, priorities as names and numbers, a mix of job and docker_image launches,
explicit ids, labels, descriptions and comments. Deterministic for a given count and seed, so a
run can be compared with the last one.
"""
from __future__ import annotations

import random
import subprocess
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


def generate(root: Path, count: int, seed: int = 6) -> Path:
    """`count` specs under root/launches, in a fresh git repository with one commit; returns root."""
    rng = random.Random(seed)
    launches = root / "launches"
    launches.mkdir(parents=True)
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
            (team_dir / "_defaults.yaml").write_text(
                f"launch:\n  queue_name: {team}-a100\n  project: {team}\n  resource: kubernetes\n"
                f"labels:\n  team: {team}\n", encoding="utf-8")
        folder = team_dir / (area if not suffix else f"{area}-{suffix}")
        folder.mkdir()
        if f % 2 == 0:  # a third level of defaults in half of the folders
            (folder / "_defaults.yaml").write_text(
                f"launch:\n  template_variables:\n    region: us-east-1\n  config:\n    overrides:\n"
                f"      run_config:\n        tracking: {{area: {area}}}\n", encoding="utf-8")
        for _ in range(min(per_folder, count - written)):
            (folder / f"run-{written:05d}.yaml").write_text(_spec(rng, team, area, written), encoding="utf-8")
            written += 1
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.name", "launchops bench")
    _git(root, "config", "user.email", "bench@launchops.invalid")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", f"{count} generated specs")
    return root


if __name__ == "__main__":  # python -m benchmarks.generator DIR COUNT: a repository to look at
    import sys

    print(generate(Path(sys.argv[1]), int(sys.argv[2])))
