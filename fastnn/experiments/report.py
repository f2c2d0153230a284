"""The HTML report: ``<out>/report.json`` (a manifest with every section's data) and
``<out>/index.html`` regenerated from it, both written atomically.

Re-running one experiment replaces its section and keeps the others. The page is
static: inline CSS, relative links, no script; every name and value is HTML-escaped.

A section (one per experiment) is a dict:

    id, title, question, varies, group       from the registry
    status          "ok" | "failed" | "interrupted"
    error           traceback text ("" when none)
    started, finished  ISO-8601 times;  run_time  seconds
    params          the experiment's parameters (ctx.params)
    header          the invocation's header (dataset, date, machine, version, backend)
    notes           list of str
    figures         list of {"path", "caption", "run"} (paths relative to the report folder;
                    run is None for experiment-level figures)
    runs            list of {"name", "json", "metrics", "stopped", "message", "wall_time", "figures"}
    log             list of str
"""
from __future__ import annotations

import datetime as _dt
import html
import json
import math
import os
import re
from pathlib import Path
from urllib.parse import quote

MANIFEST = "report.json"
INDEX = "index.html"
MANIFEST_SCHEMA = "fastnn.report/1"

# metrics shown first in the tables, with their headings
METRIC_ORDER = ("train_accuracy", "test_accuracy", "final_loss", "test_loss", "peak_train_accuracy", "steps",
                "dead_units")
PERCENT_METRICS = {"train_accuracy", "test_accuracy", "peak_train_accuracy", "accuracy", "val_accuracy",
                   "top_class_share"}


# ---------------------------------------------------------------------------- files
def write_atomic(path, text: str):
    """Write ``text`` to ``path`` through a temporary file in the same folder and os.replace."""
    from .._atomic import write_text

    write_text(path, text)
    return Path(path)


def load_manifest(out_dir) -> dict:
    """The manifest of ``out_dir`` (empty when there is none; rebuilt from the runs' metrics
    JSON when report.json is damaged — see manifest.py)."""
    from . import manifest

    return manifest.load(out_dir)


def update(out_dir, sections=(), header=None) -> Path:
    """Merge ``sections`` (replacing those with the same id) into the manifest, then
    rewrite report.json and index.html, under the folder's lock. Returns the index path."""
    from . import manifest

    return manifest.update(out_dir, sections, header, render=render)


def rebuild(out_dir) -> Path:
    """Regenerate index.html from report.json."""
    return update(out_dir)


# ---------------------------------------------------------------------------- HTML
def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def href(path) -> str:
    """An escaped relative URL of a path relative to the report folder."""
    parts = str(path).replace(os.sep, "/").split("/")
    return esc("/".join(quote(p) for p in parts))


def anchor(section_id) -> str:
    return "sec-" + re.sub(r"[^A-Za-z0-9_-]+", "-", str(section_id))


def fmt_value(name, v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return "—"
        if name in PERCENT_METRICS and 0 <= v <= 1:
            return f"{100 * v:.2f}%"
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def fmt_seconds(s) -> str:
    if s is None:
        return "—"
    s = float(s)
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _natural_key(exp_id):
    m = re.match(r"([A-Za-z]+)(\d+)(.*)", str(exp_id))
    return (m.group(1), int(m.group(2)), m.group(3)) if m else (str(exp_id), 0, "")


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
main{max-width:1200px;margin:0 auto;padding:1.2em 2em 4em}
h1{margin:.2em 0 .1em} h2{margin-top:0;border-bottom:2px solid #d8dde6;padding-bottom:.2em}
h3.group{margin:2em 0 .6em;color:#445}
header.page{background:#fff;border-bottom:1px solid #d8dde6;padding:1em 2em}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.5em 0}
dl.meta dt{font-weight:600;color:#556} dl.meta dd{margin:0}
nav.toc{background:#fff;border:1px solid #d8dde6;border-radius:6px;padding:.6em 1.2em;margin:1em 0}
nav.toc ul{margin:.2em 0;padding-left:1.2em} nav.toc li{margin:.1em 0}
section.exp{background:#fff;border:1px solid #d8dde6;border-radius:6px;padding:1em 1.5em;margin:1.5em 0}
.question{font-style:italic;color:#334}
.badge{display:inline-block;font-size:.78em;padding:.05em .5em;border-radius:9px;color:#fff;vertical-align:middle}
.ok{background:#1a7f37} .failed{background:#c62828} .interrupted{background:#b26a00}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #d8dde6;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#eef1f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#eefbea}
.figs{display:flex;flex-wrap:wrap;gap:1em}
figure{margin:0;max-width:100%} figure img{max-width:100%;border:1px solid #e3e6ec;background:#fff}
figcaption{font-size:.85em;color:#556}
pre{background:#fbf2f2;border:1px solid #e9c6c6;padding:.6em;overflow-x:auto;font-size:.85em;white-space:pre-wrap}
pre.log{background:#f4f6f9;border-color:#d8dde6}
.msg{color:#a11;font-size:.88em} .small{font-size:.85em;color:#556}
details{margin:.5em 0} summary{cursor:pointer;color:#244;font-weight:600}
"""


def _meta(items) -> str:
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in items if v not in (None, ""))
    return f'<dl class="meta">{rows}</dl>'


def _header_items(h):
    return [("dataset", h.get("dataset")), ("date", h.get("date")), ("machine", h.get("machine")),
            ("fastnn", h.get("fastnn_version")), ("backend", h.get("backend")), ("engines", h.get("engines")),
            ("python", h.get("python")), ("command", h.get("command"))]


def _render_params(params) -> str:
    if not params:
        return ""
    rows = "".join(f"<tr><th>{esc(k)}</th><td>{esc(fmt_value(k, v))}</td></tr>" for k, v in params.items())
    return f'<details open><summary>Parameters</summary><table class="params">{rows}</table></details>'


def _metric_columns(runs):
    keys = []
    for r in runs:
        for k in (r.get("metrics") or {}):
            if k not in keys:
                keys.append(k)
    ordered = [k for k in METRIC_ORDER if k in keys]
    return ordered + [k for k in keys if k not in ordered]


def _best_run(runs):
    best, best_v = None, -1.0
    for i, r in enumerate(runs):
        v = (r.get("metrics") or {}).get("test_accuracy")
        if isinstance(v, (int, float)) and math.isfinite(v) and v > best_v:
            best, best_v = i, v
    return best


def _render_runs(sec) -> str:
    runs = sec.get("runs") or []
    if not runs:
        return ""
    cols = _metric_columns(runs)
    head = "<tr><th>run</th>" + "".join(f"<th>{esc(c.replace('_', ' '))}</th>" for c in cols) + \
        "<th>train time</th><th>notes</th><th>files</th></tr>"
    best = _best_run(runs)
    body = []
    for i, r in enumerate(runs):
        metrics = r.get("metrics") or {}
        cells = "".join(f'<td class="num">{esc(fmt_value(c, metrics.get(c)))}</td>' for c in cols)
        note = ""
        if r.get("stopped"):
            note = f'<span class="msg">{esc(r.get("stopped"))}: {esc(r.get("message"))}</span>'
        elif r.get("message"):
            note = f'<span class="small">{esc(r.get("message"))}</span>'
        links = []
        if r.get("json"):
            links.append(f'<a href="{href(r["json"])}">JSON</a>')
        for f in r.get("figures") or []:
            label = Path(f).stem.split(".")[-1] if "." in Path(f).stem else Path(f).suffix.lstrip(".")
            links.append(f'<a href="{href(f)}">{esc(label or Path(f).name)}</a>')
        cls = ' class="best"' if i == best and len(runs) > 1 else ""
        body.append(f"<tr{cls}><td>{esc(r.get('name'))}</td>{cells}<td class=\"num\">"
                    f"{esc(fmt_seconds(r.get('wall_time')))}</td><td>{note}</td><td>{' · '.join(links)}</td></tr>")
    caption = '<p class="small">Final metrics of every run (the highlighted row has the best test accuracy).</p>' \
        if best is not None and len(runs) > 1 else ""
    return f"<h4>Final metrics</h4>{caption}<table class=\"runs\">{head}{''.join(body)}</table>"


def _render_figures(figs, title) -> str:
    if not figs:
        return ""
    items = []
    for f in figs:
        src = href(f["path"])
        cap = f.get("caption") or Path(f["path"]).name
        if f.get("run"):
            cap = f"{f['run']}: {cap}"
        items.append(f'<figure><a href="{src}"><img src="{src}" alt="{esc(cap)}" loading="lazy"></a>'
                     f"<figcaption>{esc(cap)}</figcaption></figure>")
    return f'<h4>{esc(title)}</h4><div class="figs">{"".join(items)}</div>'


def render_section(sec) -> str:
    sid = sec.get("id", "?")
    status = sec.get("status", "ok")
    parts = [f'<section class="exp" id="{esc(anchor(sid))}">',
             f'<h2>{esc(sid)} — {esc(sec.get("title"))} <span class="badge {esc(status)}">{esc(status)}</span></h2>']
    if sec.get("question"):
        parts.append(f'<p class="question">{esc(sec["question"])}</p>')
    h = sec.get("header") or {}
    parts.append(_meta([("varies", sec.get("varies")), ("dataset", (sec.get("params") or {}).get("dataset")),
                        ("run", sec.get("started")), ("run time", fmt_seconds(sec.get("run_time"))),
                        ("machine", h.get("machine")), ("fastnn", h.get("fastnn_version")),
                        ("backend", (sec.get("params") or {}).get("backend"))]))
    if sec.get("error"):
        parts.append("<h4>Error</h4><pre>" + esc(sec["error"]) + "</pre>")
    if sec.get("notes"):
        parts.append("<h4>Notes</h4><ul>" + "".join(f"<li>{esc(n)}</li>" for n in sec["notes"]) + "</ul>")
    figs = sec.get("figures") or []
    main_figs = [f for f in figs if not f.get("run")] + [f for f in figs if f.get("run") and f.get("featured")]
    run_figs = [f for f in figs if f.get("run") and not f.get("featured")]
    parts.append(_render_figures(main_figs, "Figures"))
    parts.append(_render_runs(sec))
    if run_figs:
        parts.append(f"<details><summary>Dashboards of every run ({len(run_figs)} figures)</summary>"
                     + _render_figures(run_figs, "Per-run dashboards") + "</details>")
    parts.append(_render_params(sec.get("params")))
    if sec.get("log"):
        parts.append('<details><summary>Log</summary><pre class="log">' + esc("\n".join(sec["log"])) + "</pre></details>")
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def render(manifest) -> str:
    """The whole index.html for a manifest."""
    from .registry import GROUPS

    sections = sorted(manifest.get("sections", {}).values(), key=lambda s: _natural_key(s.get("id", "")))
    h = manifest.get("header") or {}
    toc, body = [], []
    group = None
    for sec in sections:
        g = sec.get("group") or re.match(r"[A-Za-z]*", str(sec.get("id", ""))).group(0)
        if g != group:
            if group is not None:
                toc.append("</ul></li>")
            group = g
            gtitle = GROUPS.get(g, "")
            toc.append(f"<li><b>{esc(g)}</b> {esc(gtitle)}<ul>")
            body.append(f'<h3 class="group">{esc(g)}. {esc(gtitle)}</h3>')
        status = sec.get("status", "ok")
        toc.append(f'<li><a href="#{esc(anchor(sec.get("id")))}">{esc(sec.get("id"))} — {esc(sec.get("title"))}</a> '
                   f'<span class="small">({esc(fmt_seconds(sec.get("run_time")))})</span>'
                   + (f' <span class="badge {esc(status)}">{esc(status)}</span>' if status != "ok" else "") + "</li>")
        body.append(render_section(sec))
    if group is not None:
        toc.append("</ul></li>")
    total = sum(float(s.get("run_time") or 0) for s in sections)
    header = (f'<header class="page"><h1>fastnn experiments</h1>{_meta(_header_items(h))}'
              f'<p class="small">{len(sections)} experiment(s), total run time {esc(fmt_seconds(total))}; '
              f'updated {esc(manifest.get("updated", ""))}. Data of every section: '
              f'<a href="{href(MANIFEST)}">{esc(MANIFEST)}</a>.</p></header>')
    toc_html = f'<nav class="toc"><b>Contents</b><ul>{"".join(toc)}</ul></nav>' if sections else \
        "<p>No experiment has been run yet.</p>"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>fastnn experiments</title><style>{CSS}</style></head><body>{header}<main>{toc_html}"
            + "\n".join(body) + "</main></body></html>\n")
