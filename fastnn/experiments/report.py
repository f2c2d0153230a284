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
    runs            list of {"name", "json", "metrics", "stopped", "message", "wall_time", "figures",
                    "diagnostics"} (diagnostics: fastnn.diagnose findings as dicts)
    log             list of str
    meta            {"headline": str, "references": [{"what", "ours", "reference", "data"}],
                    "verdicts": [{"claim", "holds" (true/false/null), "evidence"}],
                    "lr_scale": {"factor", "n_train", "reference_n", "mode"}}  (all optional;
                    filled through ctx.headline / ctx.reference / ctx.verdict)
    rerun           present when a later rerun failed or was interrupted and this (previous,
                    good) section was kept: {"status", "error", "started", "finished"}

The page starts with a summary table (one line per experiment: headline, the course's
reference beside fastnn's number, the verdicts), linked to the sections.
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
.ok{background:#1a7f37} .failed{background:#c62828} .interrupted{background:#b26a00} .recovered{background:#5a5f9a}
.yes{color:#1a7f37;font-weight:600} .no{color:#c62828;font-weight:600} .undecided{color:#8a6d00;font-weight:600}
ul.verdicts{list-style:none;padding-left:.2em} ul.verdicts li{margin:.2em 0}
.warnbox{background:#fff6e5;border:1px solid #e8c27a;border-radius:4px;padding:.4em .8em;margin:.6em 0}
table.summary td{font-size:.92em} ul.diag{margin:.2em 0 .6em;padding-left:1.2em;font-size:.9em}
ul.diag li.kind{margin:.15em 0} .diagkind{font-family:monospace;color:#7a2e00}
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


def _split_cells(line, starts):
    cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
    return cells


def text_table(text):
    """(header, rows) of a fixed-width text table whose second line is a dashes rule
    ("-  ----  ---"), as the scalar engine prints its node tables; None for other text."""
    lines = str(text).splitlines()
    if len(lines) < 3 or not re.fullmatch(r"\s*-+(\s+-+)+\s*", lines[1]):
        return None
    starts = [m.start() for m in re.finditer(r"-+", lines[1])]
    header = _split_cells(lines[0], starts)
    rows = [_split_cells(line, starts) for line in lines[2:] if line.strip()]
    return header, rows


def render_note(note) -> str:
    """A note as HTML: tables printed as text become tables, other multi-line text keeps its lines."""
    table = text_table(note)
    if table is not None:
        header, rows = table
        head = "".join(f"<th>{esc(h)}</th>" for h in header)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
        return f'<table class="notetable"><tr>{head}</tr>{body}</table>'
    if "\n" in str(note):
        return f'<pre class="log">{esc(note)}</pre>'
    return esc(note)


def fmt_ref(v) -> str:
    """A reference/ours value: fractions in [0, 1] as %, other numbers as %.4g, text as is."""
    if v is None:
        return "—"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if not math.isfinite(v):
            return "—"
        return f"{100 * v:.1f}%" if 0 <= v <= 1 else f"{v:.4g}"
    return str(v)


def verdict_word(holds) -> str:
    return {True: "yes", False: "no"}.get(holds, "undecided")


def render_verdict(v) -> str:
    word = verdict_word(v.get("holds"))
    ev = f' <span class="small">— {esc(v["evidence"])}</span>' if v.get("evidence") else ""
    return f'{esc(v.get("claim"))}: <span class="{word}">{word}</span>{ev}'


def _render_meta(meta) -> str:
    parts = []
    if meta.get("verdicts"):
        parts.append("<h4>Verdicts</h4><ul class=\"verdicts\">"
                     + "".join(f"<li>{render_verdict(v)}</li>" for v in meta["verdicts"]) + "</ul>")
    if meta.get("references"):
        rows = "".join(f"<tr><td>{esc(r.get('what'))}</td><td class=\"num\">{esc(fmt_ref(r.get('ours')))}</td>"
                       f"<td class=\"num\">{esc(fmt_ref(r.get('reference')))}</td><td>{esc(r.get('data'))}</td></tr>"
                       for r in meta["references"])
        parts.append("<h4>fastnn beside the course</h4><table class=\"refs\"><tr><th>what</th><th>fastnn</th>"
                     f"<th>course</th><th>data</th></tr>{rows}</table>")
    return "".join(parts)


def render_findings(findings) -> str:
    """fastnn.diagnose findings (dicts) as a list; "" when there are none."""
    if not findings:
        return ""
    items = []
    for f in findings:
        where = f", layer {f['layer']}" if f.get("layer") is not None else ""
        items.append(f'<li class="kind"><span class="diagkind">{esc(f.get("kind"))}{esc(where)}</span>: '
                     f'{esc(f.get("message"))} <i>→ {esc(f.get("suggestion"))}</i></li>')
    return f'<ul class="diag">{"".join(items)}</ul>'


def _render_diagnostics(sec) -> str:
    runs = [r for r in sec.get("runs") or [] if "diagnostics" in r]
    if not runs:
        return ""
    blocks = []
    for r in runs:
        found = r.get("diagnostics") or []
        body = render_findings(found) or '<p class="small">no problem found</p>'
        blocks.append(f"<h5>{esc(r.get('name'))}</h5>{body}")
    n = sum(len(r.get("diagnostics") or []) for r in runs)
    return (f"<details open><summary>Diagnostics of every run ({n} finding{'s' if n != 1 else ''}, "
            f"fastnn.diagnose)</summary>{''.join(blocks)}</details>")


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


def _render_run_dashboards(sec, run_figs) -> str:
    """Each run's dashboards with that run's diagnostics underneath."""
    findings = {r.get("name"): r.get("diagnostics") for r in sec.get("runs") or []}
    order, groups = [], {}
    for f in run_figs:
        if f["run"] not in groups:
            order.append(f["run"])
        groups.setdefault(f["run"], []).append(f)
    return "".join(_render_figures(groups[name], f"{name}") + render_findings(findings.get(name))
                   for name in order)


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
    rerun = sec.get("rerun")
    if rerun:
        what = "failed" if rerun.get("status") == "failed" else "was interrupted"
        parts.append(f'<div class="warnbox">A rerun started {esc(rerun.get("started"))} {what}; the results below '
                     f'are those of the previous run ({esc(sec.get("started"))}), kept unchanged.'
                     + (f"<pre>{esc(rerun.get('error'))}</pre>" if rerun.get("error") else "") + "</div>")
    if sec.get("error"):
        parts.append("<h4>Error</h4><pre>" + esc(sec["error"]) + "</pre>")
    parts.append(_render_meta(sec.get("meta") or {}))
    if sec.get("notes"):
        parts.append("<h4>Notes</h4><ul>" + "".join(f"<li>{render_note(n)}</li>" for n in sec["notes"]) + "</ul>")
    figs = sec.get("figures") or []
    main_figs = [f for f in figs if not f.get("run")] + [f for f in figs if f.get("run") and f.get("featured")]
    run_figs = [f for f in figs if f.get("run") and not f.get("featured")]
    parts.append(_render_figures(main_figs, "Figures"))
    parts.append(_render_runs(sec))
    parts.append(_render_diagnostics(sec))
    if run_figs:
        parts.append(f"<details><summary>Dashboards of every run ({len(run_figs)} figures)</summary>"
                     + _render_run_dashboards(sec, run_figs) + "</details>")
    parts.append(_render_params(sec.get("params")))
    if sec.get("log"):
        parts.append('<details><summary>Log</summary><pre class="log">' + esc("\n".join(sec["log"])) + "</pre></details>")
    parts.append("</section>")
    return "\n".join(p for p in parts if p)


def _default_headline(runs) -> str:
    """For an experiment without ctx.headline: its best run by test accuracy, or the run count."""
    best = _best_run(runs)
    if best is None:
        return f"{len(runs)} run(s)" if runs else ""
    r = runs[best]
    m = r.get("metrics") or {}
    train = m.get("train_accuracy")
    train_text = f"train {fmt_value('train_accuracy', train)}, " if isinstance(train, float) else ""
    lead = "best: " if len(runs) > 1 else ""
    return f"{lead}{r.get('name')} — {train_text}test {fmt_value('test_accuracy', m.get('test_accuracy'))}"


def render_summary(sections) -> str:
    """The table at the top: one line per experiment (headline, references, verdicts)."""
    rows = []
    for sec in sections:
        meta = sec.get("meta") or {}
        link = f'<a href="#{esc(anchor(sec.get("id")))}">{esc(sec.get("id"))}</a>'
        status = sec.get("status", "ok")
        badge = f' <span class="badge {esc(status)}">{esc(status)}</span>' if status != "ok" else ""
        headline = meta.get("headline") or _default_headline(sec.get("runs") or [])
        refs = "<br>".join(f"{esc(r.get('what'))}: <b>{esc(fmt_ref(r.get('ours')))}</b> vs course "
                           f"{esc(fmt_ref(r.get('reference')))}" for r in meta.get("references") or [])
        verdicts = "<br>".join(render_verdict(dict(v, evidence="")) for v in meta.get("verdicts") or [])
        rows.append(f"<tr><td>{link}{badge}</td><td>{esc(sec.get('title'))}</td><td>{esc(headline)}</td>"
                    f"<td>{refs or '—'}</td><td>{verdicts or '—'}</td></tr>")
    if not rows:
        return ""
    # the data behind "fastnn vs the course" (e.g. Fashion-MNIST here, full MNIST there), once each
    data = dict.fromkeys(r.get("data") for sec in sections for r in (sec.get("meta") or {}).get("references") or []
                         if r.get("data"))
    note = "".join(f'<p class="note">Data of the comparisons: {esc(d)}.</p>' for d in data)
    return ('<h2>Summary</h2><table class="summary"><tr><th>experiment</th><th>title</th><th>headline result</th>'
            '<th>fastnn vs the course</th><th>verdict</th></tr>' + "".join(rows) + "</table>" + note)


def _scale_line(sections) -> str:
    """The step-size factor of the sections that scale their rates (section C)."""
    seen = {}
    for sec in sections:
        info = (sec.get("meta") or {}).get("lr_scale")
        if info:
            seen.setdefault((info.get("factor"), info.get("n_train"), info.get("reference_n"), info.get("mode")),
                            []).append(sec.get("id"))
    parts = []
    for (factor, n, ref, mode), ids in seen.items():
        how = f"reference-matched: × {ref}/{n} = {factor:.4g}" if mode == "auto" else f"× {factor:.4g} as given"
        if factor == 1.0:
            how = "raw rates (lr_scale=1)" if mode != "auto" else "× 1 (the course's N)"
        parts.append(f"{', '.join(ids)}: lr·Σ rates {how}")
    return "; ".join(parts) + ("; --set lr_scale=1 gives the raw rates" if parts else "")


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
    items = _header_items(h)
    items.insert(1, ("step sizes", _scale_line(sections)))
    recovered = [s.get("id") for s in sections if s.get("status") == "recovered"]
    banner = ""
    if recovered:
        rec = manifest.get("recovered") or {}
        banner = (f'<div class="warnbox">report.json {esc(rec.get("problem", "was damaged"))} and was rebuilt from '
                  f'the runs\' metrics JSON files' + (f' (the damaged file is kept as {esc(rec["kept_as"])})'
                                                      if rec.get("kept_as") else "")
                  + f'; sections {esc(", ".join(recovered))} lost their notes and verdicts: rerun them to restore '
                    'them (finished runs are not trained again).</div>')
    header = (f'<header class="page"><h1>fastnn experiments</h1>{_meta(items)}{banner}'
              f'<p class="small">{len(sections)} experiment(s), total run time {esc(fmt_seconds(total))}; '
              f'updated {esc(manifest.get("updated", ""))}. Data of every section: '
              f'<a href="{href(MANIFEST)}">{esc(MANIFEST)}</a>.</p></header>')
    toc_html = f'<nav class="toc"><b>Contents</b><ul>{"".join(toc)}</ul></nav>' if sections else \
        "<p>No experiment has been run yet.</p>"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>fastnn experiments</title><style>{CSS}</style></head><body>{header}<main>"
            f"{render_summary(sections)}{toc_html}"
            + "\n".join(body) + "</main></body></html>\n")
