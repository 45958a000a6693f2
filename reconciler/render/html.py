"""The status page: one self-contained HTML file drawn from the status document (reconciler/report.py).

Inline CSS and script only, and a Content-Security-Policy that allows exactly those two (by hash)
and nothing else: no font, image, script or style from anywhere, so the page works from an artifact
zip, a file:// URL or GitHub Pages alike, and a string that slipped through escaping could run
nothing. Every string from outside goes through `escape.html`; the only links are to W&B runs.

Order on the page: the counts, then what needs attention, then every spec (a matrix spec's cells
grouped under it), schedules and open previews when there are any. Tables sort by any column
(click its heading); a matrix spec's cells move with their spec.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.render.escape import html as esc

_CSS = """
:root{--fg:#1f2328;--mute:#656d76;--line:#d8dee4;--bg:#f6f8fa;--ok:#1a7f37;--okb:#dafbe1;--warn:#9a6700;
--warnb:#fff8c5;--bad:#cf222e;--badb:#ffebe9;--unk:#8250df;--unkb:#fbefff;--off:#57606a;--offb:#eaeef2;
--new:#0969da;--newb:#ddf4ff}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:#fff}
header{padding:20px 28px 8px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{font-size:20px;margin:0 0 2px}h2{font-size:16px;margin:26px 0 10px}
.meta{color:var(--mute);margin:0 0 14px}
main{padding:0 28px 40px}
.counts{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 14px}
.tile{min-width:108px;padding:8px 14px;border-radius:8px;border:1px solid var(--line);background:#fff}
.tile b{display:block;font-size:24px;line-height:1.1}.tile span{color:var(--mute);font-size:12px}
.tile.zero{opacity:.45}
.axis{color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.04em;margin:4px 0}
.t-ok{border-left:5px solid var(--ok)}.t-warn{border-left:5px solid #d4a72c}.t-bad{border-left:5px solid var(--bad)}
.t-unk{border-left:5px solid var(--unk)}.t-off{border-left:5px solid #8c959f}.t-new{border-left:5px solid var(--new)}
#attention{border:1px solid #ffcecb;background:#fff5f4;border-radius:8px;padding:4px 16px 10px;margin-top:18px}
#attention.calm{border-color:#aceebb;background:#f3fff5}
#attention h2{margin-top:10px}#attention ul{margin:0;padding-left:20px}#attention li{margin:3px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th{position:sticky;top:0;background:var(--bg);text-align:left;border-bottom:2px solid var(--line);z-index:1}
th button{all:unset;cursor:pointer;display:block;padding:7px 8px;font-weight:600;width:100%}
th button:hover{background:#eaeef2}th[aria-sort=ascending] button::after{content:" \\25B2"}
th[aria-sort=descending] button::after{content:" \\25BC"}
td{padding:6px 8px;border-bottom:1px solid #eaeef2;vertical-align:top}
tbody:hover td{background:#fafbfc}
tr.gh td{background:var(--bg);font-weight:600;border-bottom:1px solid var(--line)}
tr.cell td:first-child{padding-left:26px}tr.hot td:first-child{box-shadow:inset 4px 0 var(--bad)}
code,.mono,.c{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
i{font-style:normal;color:var(--mute)}
.p,i[class]{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;white-space:nowrap}
.ok{color:var(--ok);background:var(--okb)}.warn{color:var(--warn);background:var(--warnb)}
.bad{color:var(--bad);background:var(--badb)}.unk{color:var(--unk);background:var(--unkb)}
.off{color:var(--off);background:var(--offb)}.new{color:var(--new);background:var(--newb)}
.mute,.m{color:var(--mute)}.m{font-size:12px}.t,.nw{white-space:nowrap}
.alarm{color:#fff;background:var(--bad)}.err{color:var(--bad);font-size:12px}
details summary{cursor:pointer}details pre{white-space:pre-wrap;word-break:break-all;margin:6px 0;
padding:8px;background:var(--bg);border-radius:6px;max-width:720px}
a{color:var(--new)}#more{font:inherit;padding:6px 14px;border:1px solid var(--line);border-radius:6px;
background:var(--bg);cursor:pointer}.empty{color:var(--mute);font-style:italic}
"""

_SCRIPT = """
(function(){
function key(td){if(!td)return'';if(td.dataset.v!==undefined)return td.dataset.v;
return td.firstChild?td.firstChild.textContent.trim():'';}
var now=Date.parse(document.body.dataset.now);
function ago(s){var m=Math.round(s/60),h=Math.floor(m/60),d=Math.floor(h/24);
return d?d+' d':h?h+' h':m+' min';}
document.querySelectorAll('td.t').forEach(function(td){var t=td.textContent;if(!t)return;
var at=Date.parse(t.replace(' ','T').replace(/(\\d\\d:\\d\\d)Z$/,'$1:00Z'));if(isNaN(at)||isNaN(now))return;
var s=document.createElement('span');s.className='m';
s.textContent=at<=now?' ('+ago((now-at)/1000)+' ago)':' (in '+ago((at-now)/1000)+')';td.appendChild(s);});
function num(s){var x=parseFloat(s);return String(x)===s?x:NaN;}
function cmp(a,b){if(!isNaN(a[0])&&!isNaN(b[0]))return a[0]-b[0];return a[1]<b[1]?-1:a[1]>b[1]?1:0;}
function rows(tb){return Array.prototype.filter.call(tb.rows,function(r){return !r.classList.contains('gh');});}
function keyed(el,td){var k=key(td);return [num(k),k,el];}
function sort(table,col,dir){
var order=Array.prototype.map.call(table.tBodies,function(tb){var rs=rows(tb);
if(rs.length>1){var ks=rs.map(function(r){return keyed(r,r.cells[col]);});
ks.sort(function(a,b){return dir*cmp(a,b);});ks.forEach(function(k){tb.appendChild(k[2]);});rs=[ks[0][2]];}
return keyed(tb,rs[0].cells[col]);});
order.sort(function(a,b){return dir*cmp(a,b);});
var f=document.createDocumentFragment();order.forEach(function(k){f.appendChild(k[2]);});table.appendChild(f);
if(table.id==='specs')page();}
var more=document.getElementById('more'),shown=more?+more.dataset.page:0;
function page(){if(!more)return;var bs=document.getElementById('specs').tBodies,n=bs.length;
for(var i=0;i<n;i++){var h=i>=shown;if(bs[i].hidden!==h)bs[i].hidden=h;}
more.hidden=n<=shown;more.textContent='Show '+Math.min(+more.dataset.page,n-shown)+' more ('+(n-shown)+' not shown)';}
if(more)more.addEventListener('click',function(){shown+=+more.dataset.page;page();});
document.querySelectorAll('#attention a').forEach(function(a){a.addEventListener('click',function(){
var row=document.getElementById(decodeURIComponent(a.hash.slice(1)));if(row)row.parentNode.hidden=false;});});
document.querySelectorAll('table.sortable').forEach(function(table){
var ths=table.tHead.rows[0].cells;
Array.prototype.forEach.call(ths,function(th,col){var b=th.querySelector('button');if(!b)return;
b.addEventListener('click',function(){
var dir=th.getAttribute('aria-sort')==='ascending'?-1:1;
Array.prototype.forEach.call(ths,function(o){o.removeAttribute('aria-sort');});
th.setAttribute('aria-sort',dir===1?'ascending':'descending');sort(table,col,dir);});});});
})();
"""

# Each state's colour class: ok (green), warn (amber), bad (red), unk (purple), off (grey), new (blue).
TONE = {
    "in sync": "ok", "changed": "warn", "removed": "off", "invalid": "bad",
    "applied": "ok", "pending": "warn", "failed": "bad", "unknown": "unk", "not applied": "new",
    "claimed": "new", "leased": "new", "running": "new", "queued": "warn", "finished": "ok",
    "withdrawn": "off", "deleted": "off", "crashed": "bad", "killed": "off", "missed": "bad",
    "due now": "warn", "suspended": "off",
}


def _sha(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


CSP = (f"default-src 'none'; style-src '{_sha(_CSS)}'; script-src '{_sha(_SCRIPT)}'; img-src data:; "
       "base-uri 'none'; form-action 'none'")


def pill(state: str | None) -> str:
    if not state:
        return "<i>—</i>"
    return f"<i class={TONE.get(state, 'off')}>{esc(state)}</i>"


def _when(value: Any, now: str) -> str:
    """`2026-11-29 19:00Z` and how long ago, from the document's own clock (deterministic)."""
    if not isinstance(value, str) or not value:
        return ""
    from reconciler.report import _parse_time

    shown = esc(value.replace("T", " ").replace(":00Z", "Z") if len(value) == 20 else value)
    then, at = _parse_time(value), _parse_time(now)
    if then is None or at is None:
        return shown
    seconds = int((at - then).total_seconds())
    ago = f"in {_span(-seconds)}" if seconds < 0 else f"{_span(seconds)} ago"
    return f"{shown} <span class=mute>({ago})</span>"


def _span(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _link(url: Any, label: str) -> str:
    # the document builds run URLs from an http(s) base and quoted segments; checked again here
    if isinstance(url, str) and re.match(r"https?://[^\s\"'<>]+$", url):
        return f'<a href="{esc(url)}">{esc(label)}</a>'  # same tab; the page sends no referrer
    return ""


def _tiles(title: str, counts: Mapping[str, int]) -> str:
    tiles = "".join(f'<div class="tile t-{TONE.get(state, "off")}{" zero" if not n else ""}"><b>{n}</b>'
                    f"<span>{esc(state)}</span></div>" for state, n in counts.items())
    return f'<div class="axis">{esc(title)}</div><div class="counts">{tiles}</div>'


_SPEC_COLUMNS = ("Spec", "Git vs ledger", "Status", "Queue state", "Last applied", "Commit", "QueuedRun",
                 "W&B run", "Queue")


def _head(columns: Iterable[str]) -> str:
    cells = "".join(f'<th scope="col"><button type="button">{esc(c)}</button></th>' for c in columns)
    return f"<thead><tr>{cells}</tr></thead>"


def _what(launch: Mapping[str, Any]) -> str:
    """What a spec launches, in a few words: its job, image or URI."""
    return next((str(launch[key]) for key in ("job", "docker_image", "uri") if isinstance(launch.get(key), str)), "")


# Up to this many rows, each shows its launch arguments (masked) when opened; a larger page leaves
# them to status.json, so 10,000 specs stay a page of about 4 MB that a browser opens at once.
DETAILS_UP_TO = 2000


def _spec_row(row: Mapping[str, Any], in_group: bool, details: bool) -> str:
    """One spec or cell. Lean on purpose: sort keys only where the text is not one, an anchor only
    on rows the attention list links to, times made relative by the script."""
    label = ",".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(row["cell"].items())) \
        if in_group and row.get("cell") else row["id"]
    error = f'<div class="err">{esc(row["error"])}</div>' if row.get("error") else ""
    more = f' <span class="m">+{row["queued_runs"] - 1}</span>' if row.get("queued_runs", 0) > 1 else ""
    anchor = f' id="{esc("spec-" + row["id"])}"' if row.get("attention") else ""
    # the source file only where the id does not name it already (an explicit id, several documents)
    named = "/" + row["id"] + ".y"
    source = "" if ("/" + row["source"]).endswith((named + "aml", named + "ml")) else row["source"]
    where = " · ".join(esc(part) for part in (row["id"] if label != row["id"] else "", source,
                                              _what(row.get("launch") or {})) if part)
    key = f' data-v="{esc(row["id"])}"' if label != row["id"] or details else ""
    if details:
        launch = json.dumps(row.get("launch") or {}, indent=1, sort_keys=True, ensure_ascii=False)
        head = f"<details><summary>{esc(label)}</summary><div class=m>{where}</div><pre>{esc(launch)}</pre></details>"
    else:
        head = f"{esc(label)}<div class=m>{where}</div>"
    classes = " ".join(c for c in ("cell" if in_group else "", "hot" if row.get("attention") else "") if c)
    shown = f' class="{classes}"' if classes else ""
    return (f"<tr{shown}{anchor}><td{key}>{head}{error}</td>"
            f'<td>{pill(row["git"])}</td><td>{pill(row["status"])}</td><td>{pill(row.get("queue_state"))}</td>'
            f'<td class=t>{esc((row.get("applied_at") or "").replace("T", " ").replace(":00Z", "Z"))}</td>'
            f'<td class=c>{esc((row.get("applied_commit") or "")[:8])}</td>'
            f'<td class=c>{esc(row.get("queued_run") or "")}{more}</td>'
            f'<td>{_link(row.get("run_url"), "run")}</td><td>{esc(row.get("queue") or "")}</td></tr>')


# Specs (a matrix counts once) shown at a time: a browser lays out a few hundred rows at once, not
# 10,000; every row is in the page (and found by the browser's search once shown), sorting sorts
# them all, and a button shows the next page.
PAGE = 500


def _spec_bodies(rows: list[Mapping[str, Any]]) -> list[str]:
    """A tbody per spec (its cells with it), the ones past the first page hidden."""
    details = len(rows) <= DETAILS_UP_TO
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    out: list[str] = []
    for group, members in groups.items():
        past = " hidden" if len(out) >= PAGE else ""
        if len(members) == 1 and members[0].get("cell") is None:
            out.append(f"<tbody{past}>{_spec_row(members[0], False, details)}</tbody>")
            continue
        states = Counter(m["status"] for m in members)
        tally = " ".join(f"{pill(s)} {n}" for s, n in sorted(states.items()))
        head = (f'<tr class="gh"><td colspan="{len(_SPEC_COLUMNS)}">{esc(group)} '
                f'<span class="mute">matrix · {len(members)} cells</span> {tally}</td></tr>')
        cells = "".join(_spec_row(m, True, details) for m in members)
        out.append(f'<tbody class="matrix"{past}>{head}{cells}</tbody>')
    return out


def _attention(items: list[Mapping[str, Any]]) -> str:
    if not items:
        return ('<section id="attention" class="calm"><h2>Needs attention</h2>'
                '<p>Nothing: no failed, unknown or long-pending spec, and every withdraw was honoured.</p></section>')
    # the reason without the status its pill shows already (`failed: …` beside a `failed` pill)
    lis = "".join(f'<li><a href="#{esc("spec-" + a["id"])}"><b>{esc(a["id"])}</b></a> {pill(a["status"])} '
                  f'{esc(a["reason"].removeprefix(a["status"] + ": "))}</li>' for a in items)
    count = len({a["id"] for a in items})
    return f'<section id="attention"><h2>Needs attention ({count})</h2><ul>{lis}</ul></section>'


MISSED_SHOWN = 5  # the newest; status.json has every one the ledger keeps


def _missed(missed: list[Mapping[str, Any]]) -> str:
    if not missed:
        return '<span class="mute">none</span>'
    newest = missed[::-1][:MISSED_SHOWN]
    shown = "<br>".join(f'{_when(m["slot"], "")} <span class="mute">{esc(m.get("why") or "")}</span>' for m in newest)
    more = f'<br><span class="mute">and {len(missed) - len(newest)} earlier</span>' if len(missed) > len(newest) else ""
    return f'{pill("missed")} {len(missed)}<div class="nw">{shown}{more}</div>'


def _sortable(section: str, title: str, columns: Iterable[str], rows: Iterable[str]) -> str:
    """A section holding one sortable table; each row (its cells) in a tbody of its own, as the
    script sorts tbodies."""
    body = "".join(f"<tbody><tr>{cells}</tr></tbody>" for cells in rows)
    return (f'<section id="{section}"><h2>{title}</h2><table class="sortable">'
            f"{_head(columns)}{body}</table></section>")


def _schedules(items: list[Mapping[str, Any]], now: str) -> str:
    if not items:
        return ""
    rows = (
        f'<td>{esc(s["id"])}</td><td class="mono">{esc(str(s.get("cron") or ""))}'
        f' <span class="mute">{esc(str(s.get("timezone") or ""))}</span></td>'
        f'<td data-v="{esc(str(s.get("next") or ""))}">{_when(s.get("next"), now)}'
        f'{" " + pill("due now") if s.get("due") else ""}{" " + pill("suspended") if s.get("suspended") else ""}</td>'
        f'<td data-v="{esc(str(s.get("last") or ""))}">{_when(s.get("last"), now)}</td>'
        f'<td data-v="{len(s["missed"]):06d}">{_missed(s["missed"])}</td>'
        for s in items)
    return _sortable("schedules", f"Schedules ({len(items)})",
                     ("Spec", "Cron", "Next slot", "Last slot", "Missed slots"), rows)


def _previews(items: list[Mapping[str, Any]], now: str) -> str:
    if not items:
        return ""
    rows = (
        f'<td data-v="{esc(str(p["pr"]).rjust(12))}">{esc(str(p["pr"]))}</td><td>{esc(p["id"])}</td>'
        f'<td>{pill(p.get("status"))}</td><td>{pill(p.get("queue_state"))}</td>'
        f'<td class="mono">{esc(p.get("queued_run") or "")}</td>'
        f'<td data-v="{esc(p.get("enqueued_at") or "")}">{_when(p.get("enqueued_at"), now)}</td>'
        f'<td>{_link(p.get("run_url"), "open run")}</td>' for p in items)
    prs = len({p["pr"] for p in items})
    return _sortable("previews", f'Open previews ({prs} pull request{"s" if prs != 1 else ""})',
                     ("Pull request", "Spec", "Status", "Queue state", "QueuedRun", "Enqueued", "W&B run"), rows)


def page(document: Mapping[str, Any]) -> str:
    """The whole page. Deterministic: the same document gives the same bytes."""
    now = document["generated_at"]
    summary = document["summary"]
    specs = document["specs"]
    bodies = _spec_bodies(specs)
    hidden = max(len(bodies) - PAGE, 0)
    more = (f'<p><button type="button" id="more" data-page="{PAGE}">Show {min(PAGE, hidden)} more '
            f"({hidden} not shown)</button></p>" if hidden else "")
    table = (f'<table class="sortable" id="specs">{_head(_SPEC_COLUMNS)}{"".join(bodies)}</table>{more}'
             if specs else '<p class="empty">No specs and no ledger entries yet.</p>')
    if len(specs) > DETAILS_UP_TO:
        table = (f'<p class="m">More than {DETAILS_UP_TO} specs: each one\'s launch arguments are in '
                 f"status.json, beside this page.</p>{table}")
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>launchops status · {summary['specs']} specs</title><style>{_CSS}</style></head>"
        f'<body data-now="{esc(now)}">'
        f'<header><h1>launchops status</h1><p class="meta">{summary["specs"]} specs · '
        + (f'<span class="p alarm">{summary["attention"]} need attention</span>' if summary["attention"]
           else '<span class="p ok">nothing needs attention</span>')
        + f' · generated {esc(now)} · status.json format {int(document["format_version"])}</p>'
        f'{_tiles("Ledger status", summary["status"])}{_tiles("Git vs ledger", summary["git"])}'
        + (_tiles("Queue state (latest item)", summary["queue"]) if summary.get("queue") else "") + "</header><main>"
        f'{_attention(document["attention"])}'
        f'<section id="all"><h2>Specs</h2>{table}</section>'
        f'{_schedules(document.get("schedules") or [], now)}{_previews(document.get("previews") or [], now)}'
        f"</main><script>{_SCRIPT}</script></body></html>\n")
