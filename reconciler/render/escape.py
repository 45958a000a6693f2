"""Making what a pull request wrote inert in every output: one place, called by every renderer.

Spec ids, file names, config keys and values, and the ledger (its `error` fields too) all come from
a pull request. On GitHub Actions every line launchops prints is read by the runner, which takes a
line as a *workflow command* when it starts with `::` (after leading blanks: `::error`,
`::add-mask`, `::stop-commands`, …) and, in the legacy form, when `##[` appears *anywhere* in it
(`##[set-output name=x]…`). The runner ends a line at LF, CR or CR LF. So a string from outside
must never bring a line break, never begin a line with `::` and never contain `##[`; and in
markdown (the plan comment, the job summary) it must render as text: no table cell, `<details>`,
heading, link or @mention of its own.

- `text`: one string from outside, for plain text (terminal, CI log).
- `markdown`: one string from outside, for markdown and the HTML GitHub allows in it.
- `github_data`, `github_property`: the runner's own escaping for a workflow command's message and
  properties.
- `json_text`: a JSON document, value for value the same, with nothing the runner acts on.
- `lines`: the last guard on a whole message or rendering: no line of it is a workflow command.
- `html`: one string from outside, as text in an HTML page (the status page), in an element or a
  quoted attribute.
"""
from __future__ import annotations

import re

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: all break or disguise a line.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_LEGACY = "##["  # the runner's legacy command prefix, honoured anywhere in a line


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    return f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}"


def text(value: str) -> str:
    """One line of plain text: control characters shown as `\\n`, `\\x1b`…, `##[` broken, and a
    leading `::` (the string may start a line: a table's first column) preceded by a backslash."""
    out = _CONTROL.sub(_visible, value).replace(_LEGACY, "##\\[")
    return "\\" + out if out.lstrip().startswith("::") else out


# Every character markdown or GitHub's HTML gives a meaning to, as a numeric character reference:
# tables (`|`), HTML (`<`, `>`, `&`), code spans, emphasis, links and images, headings and issue
# references (`#`), math (`$`), emoji and URL schemes (`:`), backslash escapes. Quotes are text
# outside an attribute, and launchops writes no attribute.
_MARKDOWN = {ord(c): f"&#{ord(c)};" for c in "&<>\\`*_~[](){}!#|:$^"}
# A zero-width space after `@` stops GitHub linking (and notifying) a user, team or e-mail address.
_MARKDOWN[ord("@")] = "&#64;&#8203;"
_WWW = re.compile(r"(www)\.", re.IGNORECASE)  # GitHub links a bare `www.host` by itself


def markdown(value: str) -> str:
    """One string from outside, inert in markdown and in the HTML (`<code>`, `<details>`) around it."""
    return _WWW.sub(r"\1&#46;", text(value).translate(_MARKDOWN))


def github_data(value: str) -> str:
    """A workflow command's message, as the runner unescapes it (`%25`, `%0D`, `%0A`); other
    control characters shown as in `text`."""
    escaped = value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return _CONTROL.sub(_visible, escaped).replace(_LEGACY, "##%5B")


def github_property(value: str) -> str:
    """A workflow command's property (`file=…`): also `:` and `,`, which end a property."""
    return github_data(value).replace(":", "%3A").replace(",", "%2C")


_JSON_UNSAFE = re.compile(r"[\x7f-\x9f\u2028\u2029]|##\[")


def json_text(document: str) -> str:
    """A JSON text (json.dumps escapes C0 controls already) with DEL, C1 controls, the line
    separators and the `[` of `##[` written as JSON `\\u` escapes (`[` is `\\u005b`): the same values,
    nothing the runner reads.
    `##[` can only occur inside a JSON string, where the escape is valid."""
    return _JSON_UNSAFE.sub(lambda m: "##\\u005b" if m.group() == _LEGACY else f"\\u{ord(m.group()):04x}", document)


_LINE_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")  # all but tab and LF
_COMMAND_LINE = re.compile(r"^([^\S\n]*)::", re.MULTILINE)  # the runner trims any blank


def lines(rendered: str) -> str:
    """The last guard on a message or a whole rendering whose own line breaks are meant: CR and the
    other control characters shown (LF and tab kept), `##[` broken, and a line that would begin with
    `::` preceded by a backslash. Strings from outside are escaped before this, where they are used;
    this makes sure a message built elsewhere cannot forge a workflow command either."""
    out = _LINE_CONTROL.sub(_visible, rendered).replace(_LEGACY, "##\\[")
    return _COMMAND_LINE.sub(lambda m: m.group(1) + "\\::", out)


_HTML_PLAIN = re.compile(r"[^&<>\"'\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]*")


def html(value: str) -> str:
    """Text in an element or a double-quoted attribute: `& < > " '` as references, control
    characters shown as in `text`, lone surrogates (not UTF-8) as backslash escapes (`\\udc80`)."""
    if _HTML_PLAIN.fullmatch(value):  # most strings: nothing to do (a status page has 100,000 of them)
        return value
    shown = _CONTROL.sub(_visible, value).encode("utf-8", "backslashreplace").decode("utf-8")
    import html  # for the few strings that need it (a status page)

    return html.escape(shown, quote=True)
