"""Everything a pull request can write comes out inert: no workflow command, no markdown of its own.

A pull request writes spec ids, file names, config keys and values, `launchops.toml`, and can edit
the ledger (its `error` fields too). On GitHub Actions, the runner reads every line launchops prints
(the action `tee`s it to the log) and takes as a workflow command a line that starts with `::` after
blanks, or that holds `##[` anywhere (the legacy form); a line ends at LF, CR or CR LF. In the plan
comment and the job summary, GitHub renders markdown and some HTML, links `www.`/`https://`
addresses and notifies `@mentions`.

The corpus below goes through every renderer (text, json, markdown, github) and the CLI's messages
on stderr; each output is checked line by line as the runner splits it, and each markdown output is
rendered with cmark-gfm (GitHub's own markdown library) and its HTML inspected.
"""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from conftest import cli, commit_all, edit_entries, git, make_repo, write
from reconciler.render import escape, github, markdown, text

# What a pull request may put in a string; each also rides inside a longer string below.
HOSTILE = [
    "evil\r::error file=README.md,line=1,title=Security::fake x",
    "x\n::warning title=forged::line",
    "::add-mask::Failed",
    "  ::stop-commands::tok",
    "a ##[set-output name=ok]yes",
    "##[group]forged",
    "cell | split | row",
    "</code></summary>\n\n# Heading @octocat [link](https://evil.example) ![i](https://e/x.png)",
    "<details><summary>fake</summary>",
    "@acme/admins please merge, mail admin@evil.example",
    "`code` ``x`` $x^2$ :smile: www.evil.example *bold* _em_ ~~s~~",
    "tab\there \x1b[31mred\x1b[0m nel\x85 ls\u2028 ps\u2029 del\x7f",
    "a\r\nb\rc\n\n- list\n> quote",
]
RUNNER_LINE = re.compile(r"\r\n|\r|\n")
ANNOTATION = re.compile(r"::error file=[^,:\r\n]*(,line=\d+,col=\d+)?,title=launchops validate::")


def runner_lines(output: str) -> list[str]:
    return RUNNER_LINE.split(output)


def assert_no_workflow_command(output: str, annotations: int = 0) -> None:
    """No line the runner reads is a command, but the `annotations` github lines launchops meant."""
    assert "##[" not in output, output
    commands = [line for line in runner_lines(output) if line.lstrip().startswith("::")]
    assert len(commands) == annotations, commands
    for line in commands:
        assert ANNOTATION.match(line.lstrip()), line


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.open: list[str] = []
        self.text_outside_code: list[str] = []
        self.text_in_code: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            while self.open.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        (self.text_in_code if "code" in self.open else self.text_outside_code).append(data)


def rendered(md: str) -> _Html:
    """The markdown as GitHub renders it (cmark-gfm with its extensions; raw HTML allowed, as GitHub
    allows <details>, <summary> and <code>), parsed."""
    html = cmarkgfm.github_flavored_markdown_to_html(md, options=Options.CMARK_OPT_UNSAFE)
    parser = _Html()
    parser.feed(html)
    return parser


def assert_inert_markdown(md: str, details: int, headings: int = 1) -> _Html:
    assert_no_workflow_command(md)
    page = rendered(md)
    allowed = {"p", "details", "summary", "code", "table", "thead", "tbody", "tr", "th", "td", "h3", "strong", "em"}
    assert set(page.tags) <= allowed, sorted(set(page.tags) - allowed)  # no link, image, heading, list, quote
    assert page.tags.count("details") == details
    assert page.tags.count("h3") == headings
    assert page.tags.count("em") == page.tags.count("strong") == 0 or "absent" in "".join(page.text_in_code)
    # every table row has exactly the cells of its header
    rows = re.findall(r"<tr>(.*?)</tr>", cmarkgfm.github_flavored_markdown_to_html(
        md, options=Options.CMARK_OPT_UNSAFE), re.S)
    for row in rows:
        assert row.count("<td") + row.count("<th") in {3, 5}, row
    # GitHub links and notifies `@name` in text outside code: a zero-width space follows every @
    for chunk in page.text_outside_code + page.text_in_code:
        assert not re.search(r"@\w", chunk), chunk
    return page


# -- the renderers, on documents built from the corpus ----------------------------------------------

def _plan_doc(strings: list[str] = HOSTILE) -> dict:
    changes = []
    for i, s in enumerate(strings):
        changes.append({"id": f"id{i}{s}", "action": ["create", "update", "retry", "remove"][i % 4],
                        "source": f"launches/{s}.yaml", "digest": "sha256:" + "0" * 64,
                        "reason": f"last attempt is failed: {s}",
                        "diff": [{"path": f"launch.config.{s}", "old": None if i % 2 else s, "new": {s: [s]}}]})
    return {"format_version": 1, "changes": changes,
            "summary": {"create": 4, "update": 3, "retry": 3, "remove": 3, "unchanged": 0}}


def _validate_doc(strings: list[str] = HOSTILE) -> dict:
    errors = [{"file": f"launches/{s}.yaml", "line": i, "column": 1, "path": f"launch.{s}", "message": f"bad {s}"}
              for i, s in enumerate(strings)]
    return {"format_version": 1, "valid": False, "specs": 0, "files": len(strings), "errors": errors}


def _status_doc(strings: list[str] = HOSTILE) -> dict:
    specs = [{"id": s, "status": "failed", "digest": "sha256:0", "source": f"launches/{s}.yaml", "uncertain": False,
              "error": s, "queued_runs": 1, "queued_run": {"id": s, "state": s, "enqueued_at": s}} for s in strings]
    return {"format_version": 1, "summary": {"failed": len(specs), strings[0]: 1}, "specs": specs}


def _apply_doc(strings: list[str] = HOSTILE) -> dict:
    outcomes = [{"id": s, "action": "create", "result": "failed", "queued_runs": [s], "error": s, "notes": [s]}
                for s in strings]
    return {"format_version": 1, "ok": False, "summary": {"failed": len(strings)}, "commit": None, "pushed": False,
            "notes": list(strings), "plan": {}, "outcomes": outcomes}


def _queue_doc(strings: list[str] = HOSTILE) -> dict:
    items = [{"id": s, "spec_id": s, "queue_name": s, "entity": s, "project": s, "priority": None, "state": s,
              "launch": {s: s}, "enqueued_at": s, "marker": s} for s in strings]
    return {"format_version": 1, "items": items}


DOCS = {"plan": _plan_doc, "validate": _validate_doc, "status": _status_doc, "apply": _apply_doc,
        "queue": _queue_doc}


@pytest.mark.parametrize("command", sorted(DOCS))
def test_text_renderings_are_inert_and_keep_one_line_per_item(command: str) -> None:
    out = getattr(text, command)(DOCS[command]())
    assert_no_workflow_command(out)
    # nothing from outside makes a line of its own: as many lines as with plain strings
    plain = getattr(text, command)(DOCS[command](["x"] * len(HOSTILE)))
    assert len(runner_lines(out)) == len(runner_lines(plain))


@pytest.mark.parametrize("command", ["plan", "status", "apply"])
def test_markdown_renderings_render_as_text(command: str) -> None:
    doc = DOCS[command]()
    md = getattr(markdown, command)(doc)
    page = assert_inert_markdown(md, details=len(doc["changes"]) if command == "plan" else 0)
    if command == "plan":  # the strings are still there, as text
        shown = "".join(page.text_in_code + page.text_outside_code)
        assert "evil\\r::error file=README.md,line=1,title=Security::fake x" in shown
        assert "<details><summary>fake</summary>" in shown
        assert "@\u200bacme/admins" in shown


def test_github_annotations_carry_the_strings_inside_their_own_line() -> None:
    doc = _validate_doc()
    out = github.validate(doc)
    assert_no_workflow_command(out, annotations=len(HOSTILE))


@pytest.mark.parametrize("command", sorted(DOCS))
def test_json_is_the_same_values_and_inert(command: str) -> None:
    from reconciler.cli import render

    doc = DOCS[command]()
    out = render(command, "json", doc)
    assert_no_workflow_command(out)
    assert json.loads(out) == doc


def test_escape_text_is_idempotent_and_one_line() -> None:
    for s in HOSTILE:
        once = escape.text(s)
        assert escape.text(once) == once
        assert len(runner_lines(once)) == 1 and not once.lstrip().startswith("::") and "##[" not in once


def test_the_last_guard_catches_a_message_built_anywhere() -> None:
    message = "spec files differ from HEAD: launches/x\n::warning::forged.yaml, launches/y\r::error::z ##[group]g"
    out = escape.lines(message)
    assert_no_workflow_command(out)
    assert out.count("\n") == 1  # a meant line break stays


# -- the CLI, end to end ---------------------------------------------------------------------------

SPEC = "apiVersion: launchops/v1\nlaunch:\n  docker_image: x:1\n"


def _hostile_repo(tmp_path: Path) -> Path:
    repo = make_repo(tmp_path / "repo", examples=False)
    config = {s: s for s in HOSTILE}
    # ids that a pull request may choose (printable), file names it may choose (anything git takes)
    for i, name in enumerate(["::error::id", "a|b", "@octocat", "`tick`", "<details>", "##[group]g"]):
        write(repo, f"launches/ok{i}.yaml", f"apiVersion: launchops/v1\nid: {json.dumps(name)}\nlaunch:\n"
              f"  docker_image: x:1\n  config: {json.dumps(config)}\n")
    for i, name in enumerate(["f\n::warning title=t::forged", "g\r::error::x", "</details>\n\n# H @octocat",
                              "h ##[add-mask]Failed"]):
        write(repo, f"launches/{name}.yaml", f"apiVersion: launchops/v1\nid: file{i}\nlaunch:\n  docker_image: x:1\n")
    commit_all(repo)
    return repo


def _run(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out = cli(repo, *args, env=env)
    return out.exit_code, out.stdout, out.stderr


def test_cli_outputs_of_a_hostile_repository_are_inert(tmp_path: Path) -> None:
    repo = _hostile_repo(tmp_path)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary)}
    for fmt in ("text", "json", "github"):
        code, out, err = _run(repo, "validate", "--format", fmt)
        assert code == 0, out + err
        assert_no_workflow_command(out + err)
    for fmt in ("text", "json", "markdown"):
        code, out, err = _run(repo, "plan", "--format", fmt, env=env)
        assert code == 0, out + err
        assert_no_workflow_command(out + err)
        if fmt == "markdown":
            assert_inert_markdown(out, details=10)
    code, out, err = _run(repo, "apply", "--yes", "--no-commit", env=env)
    assert code == 0, out + err
    assert_no_workflow_command(out + err)
    # the ledger is the pull request's too: a hostile `error` on a failed entry
    def hostile_error(_: str, entry: dict[str, object]) -> None:
        entry["status"], entry["error"] = "failed", " ".join(HOSTILE)
    edit_entries(repo, hostile_error)
    for command in (["plan"], ["status"]):
        for fmt in ("text", "json", "markdown"):
            code, out, err = _run(repo, *command, "--format", fmt, env=env)
            assert code == 0, out + err
            assert_no_workflow_command(out + err)
            if fmt == "markdown":
                assert_inert_markdown(out, details=10 if command == ["plan"] else 0)
    summary_text = summary.read_text(encoding="utf-8")
    assert_no_workflow_command(summary_text)
    assert summary_text.count(markdown.MARKER) == 6  # each plan appended its markdown


def test_cli_messages_are_inert(tmp_path: Path) -> None:
    repo = _hostile_repo(tmp_path)
    # an invalid spec: its key and value are named on stderr by plan and apply
    bad = {s: 1 for s in HOSTILE}
    write(repo, "launches/bad.yaml", SPEC + f"  {json.dumps(HOSTILE[0])}: {json.dumps(HOSTILE[1])}\n"
          f"  config: {json.dumps(bad)}\nunknown{json.dumps(HOSTILE[2])}: 1\n")
    for args in (["plan"], ["apply", "--yes"], ["validate"], ["validate", "--format", "github"]):
        code, out, err = _run(repo, *args)
        assert code == 1, out + err
        github_lines = len([e for e in json.loads(_run(repo, "validate", "--format", "json")[1])["errors"]])
        assert_no_workflow_command(out + err, annotations=github_lines if "github" in args else 0)
    (repo / "launches/bad.yaml").unlink()
    # files that differ from HEAD are named when apply refuses
    write(repo, "launches/new\n::warning::forged ##[group]x.yaml", SPEC.replace("launch:", "id: dirty\nlaunch:"))
    code, out, err = _run(repo, "apply", "--yes")
    assert code == 1 and "differ from HEAD" in err, out + err
    assert_no_workflow_command(out + err)
    (repo / "launches/new\n::warning::forged ##[group]x.yaml").unlink()
    # settings: an unknown key in launchops.toml is named
    write(repo, "launchops.toml", f"{json.dumps(HOSTILE[0])} = {json.dumps(HOSTILE[1])}\n")
    code, out, err = _run(repo, "plan")
    assert code == 1, out + err
    assert_no_workflow_command(out + err)
    # a ledger that cannot be read names what it found
    (repo / "launchops.toml").unlink()
    write(repo, ".launchops/ledger/_ledger.json", json.dumps({"version": HOSTILE[0]}))
    code, out, err = _run(repo, "status")
    assert code == 1, out + err
    assert_no_workflow_command(out + err)
    git(repo, "status")  # the repository is still a repository
