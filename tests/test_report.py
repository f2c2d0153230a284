"""The HTML report and its manifest, and the documented metrics JSON (no training here)."""
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from fastnn.experiments import metrics_schema, report
from fastnn.history import History

EVIL = "<script>alert('x')</script>"


class LinkParser(HTMLParser):
    """Collects every href/src of a page and the text of the document."""

    def __init__(self):
        super().__init__()
        self.links, self.text, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        for k, v in attrs:
            if k in ("href", "src") and v:
                self.links.append(v)
            if k == "id":
                self.ids.add(v)

    def handle_data(self, data):
        self.text.append(data)


def parse(html_text):
    p = LinkParser()
    p.feed(html_text)
    return p


def local_links_missing(index: Path):
    """Relative links of index.html whose files do not exist."""
    from urllib.parse import unquote

    p = parse(index.read_text(encoding="utf-8"))
    missing = []
    for link in p.links:
        if link.startswith(("http:", "https:", "mailto:")):
            continue
        if link.startswith("#"):
            if link[1:] not in p.ids:
                missing.append(link)
            continue
        if not (index.parent / unquote(link)).exists():
            missing.append(link)
    return missing, p


def _section(sid, **kw):
    sec = {"id": sid, "title": f"title {sid}", "question": "why?", "varies": "x", "group": sid[0], "status": "ok",
           "error": "", "started": "2024-01-01T00:00:00", "run_time": 1.5, "params": {"lr": 1e-5},
           "header": {}, "notes": [], "figures": [], "runs": [], "log": []}
    sec.update(kw)
    return sec


def test_update_keeps_other_sections_and_replaces_same_id(tmp_path):
    report.update(tmp_path, [_section("C1", notes=["first"])], {"dataset": "mnist-5k"})
    report.update(tmp_path, [_section("C2")], {"dataset": "mnist-5k"})
    report.update(tmp_path, [_section("C1", notes=["second"])], {"dataset": "digits"})
    manifest = json.loads((tmp_path / "report.json").read_text())
    assert set(manifest["sections"]) == {"C1", "C2"}
    assert manifest["sections"]["C1"]["notes"] == ["second"]
    assert manifest["header"]["dataset"] == "digits"
    html_text = (tmp_path / "index.html").read_text()
    assert 'id="sec-C1"' in html_text and 'id="sec-C2"' in html_text and "second" in html_text
    assert html_text.index('id="sec-C1"') < html_text.index('id="sec-C2"')
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp")]  # atomic writes leave nothing behind
    missing, _ = local_links_missing(tmp_path / "index.html")
    assert missing == []


def test_sections_sorted_naturally_with_toc_and_run_times(tmp_path):
    report.update(tmp_path, [_section("C10", run_time=75.0), _section("C2"), _section("A1")])
    html_text = (tmp_path / "index.html").read_text()
    assert html_text.index('id="sec-A1"') < html_text.index('id="sec-C2"') < html_text.index('id="sec-C10"')
    assert 'href="#sec-C10"' in html_text and "1 min 15 s" in html_text and "Contents" in html_text


def test_everything_is_html_escaped(tmp_path):
    fig = tmp_path / "C1" / "f.png"
    fig.parent.mkdir()
    fig.write_bytes(b"x")
    sec = _section("C1", title=EVIL, question=EVIL, varies=EVIL, notes=[EVIL], error=f"Traceback: {EVIL}",
                   params={EVIL: EVIL}, log=[EVIL], status="failed",
                   figures=[{"path": "C1/f.png", "caption": EVIL, "run": EVIL}],
                   runs=[{"name": EVIL, "json": "C1/f.png", "metrics": {EVIL: 0.5, "test_accuracy": 0.9},
                          "stopped": "diverged", "message": EVIL, "wall_time": 1.0, "figures": ["C1/f.png"]}])
    report.update(tmp_path, [sec], {"dataset": EVIL, "machine": EVIL})
    html_text = (tmp_path / "index.html").read_text()
    assert "<script" not in html_text.lower()
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html_text
    p = parse(html_text)
    assert EVIL in "".join(p.text)  # shown as text, never as markup
    json.loads((tmp_path / "report.json").read_text())


def test_links_to_odd_file_names_are_quoted(tmp_path):
    (tmp_path / "C1" / "runs").mkdir(parents=True)
    (tmp_path / "C1" / "runs" / "lr=1e-05 #1.json").write_text("{}")
    sec = _section("C1", runs=[{"name": "a", "json": "C1/runs/lr=1e-05 #1.json", "metrics": {}, "figures": []}])
    report.update(tmp_path, [sec])
    missing, p = local_links_missing(tmp_path / "index.html")
    assert missing == [] and any("%23" in link for link in p.links)


def test_unreadable_manifest_is_replaced(tmp_path):
    (tmp_path / "report.json").write_text("{not json")
    report.update(tmp_path, [_section("C3")])
    assert set(json.loads((tmp_path / "report.json").read_text())["sections"]) == {"C3"}


# ---------------------------------------------------------------------------- metrics schema
def _history():
    h = History()
    h.loss, h.accuracy, h.step_loss, h.lr = [1.0, 0.5], [0.1, 0.2], [1.0, 0.5], [1e-5, 1e-5]
    h.steps, h.wall_time = 2, 0.25
    stats = {k: [0.1, 0.2, 0.3] for k in metrics_schema.LAYER_STATS}
    h.add_layer_record(0, stats, {})
    h.add_layer_record(1, stats, {})
    h.params = {"engine": "cython-kernels"}
    return h


def test_run_record_follows_the_schema():
    rec = metrics_schema.make_run_record("C1", "lr=1e-05", {"train_accuracy": np.float32(0.5), "test_loss": np.nan},
                                         history=_history(), params={"init": ("uniform", 0.5), "k": np.float64(1)},
                                         dataset={"name": "mnist-5k", "n_train": 4000, "n_test": 1000}, seed=0)
    assert metrics_schema.validate(rec) == []
    assert set(rec) == set(metrics_schema.RUN_SCHEMA)
    assert rec["metrics"]["test_loss"] is None  # NaN stored as null: strict JSON
    assert rec["engine"] == "cython-kernels" and rec["wall_time"] == 0.25
    assert rec["layers"]["record_steps"] == [0, 1] and len(rec["layers"]["dead_units"]) == 2
    assert rec["params"]["init"] == ["uniform", 0.5]
    assert rec["curves"]["update_magnitude"] == []
    json.dumps(rec, allow_nan=False)
    rec = metrics_schema.make_run_record("C1", "r", {}, history=_history(),
                                         curves={"update_magnitude": [[1e-6, 2e-5, np.float32(3e-4)]] * 2})
    assert metrics_schema.validate(rec) == [] and len(rec["curves"]["update_magnitude"]) == 2


def test_record_without_history_is_valid():
    rec = metrics_schema.make_run_record("A1", "table", {"loss": 1.0})
    assert metrics_schema.validate(rec) == []
    assert rec["curves"]["loss"] == [] and rec["layers"]["record_steps"] == []


@pytest.mark.parametrize("mutate, problem", [
    (lambda r: r.pop("metrics"), "missing key 'metrics'"),
    (lambda r: r.update(bogus=1), "undocumented keys: bogus"),
    (lambda r: r["metrics"].update(x="high"), "metrics.x"),
    (lambda r: r["metrics"].update(x=float("nan")), "metrics.x"),
    (lambda r: r["layers"]["dead_units"].pop(), "layers.dead_units has 1 rows"),
    (lambda r: r["curves"].update(loss=["a"]), "curves.loss"),
    (lambda r: r["curves"].update(update_magnitude=[1.0]), "curves.update_magnitude"),
    (lambda r: r["curves"].update(bogus=[]), "undocumented curves: bogus"),
    (lambda r: r.update(schema="other/2"), "schema is"),
    (lambda r: r["dataset"].pop("n_train"), "dataset lacks"),
])
def test_schema_violations_are_reported(mutate, problem):
    rec = metrics_schema.make_run_record("C1", "r", {"a": 1.0}, history=_history())
    mutate(rec)
    errors = metrics_schema.validate(rec)
    assert any(problem in e for e in errors), errors
    with pytest.raises(ValueError, match="invalid run record"):
        metrics_schema.check(rec)


def test_schema_is_documented():
    doc = metrics_schema.__doc__
    for key in metrics_schema.RUN_SCHEMA:
        assert f"    {key}" in doc
    assert "update_magnitude" in metrics_schema.describe() or "layers" in metrics_schema.describe()
