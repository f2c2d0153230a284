"""Persistence of ``<out>/report.json``: every update is a locked read-merge-write, and a
damaged file is never silently replaced by an emptier one.

    with locked(out):                       # fcntl.flock on <out>/.report.lock
        manifest = load(out)                # the manifest, rebuilt from the runs if damaged
        ...
    update(out, sections, header, render)   # merge sections (same id replaced) and rewrite
                                            # report.json and index.html, under the lock

When report.json cannot be read (truncated, not JSON, wrong shape) it is kept as
``report.json.damaged-<time>`` and the manifest is rebuilt from the runs' own metrics JSON
files (``<ID>/runs/*.json``) and the figures in each experiment folder; the rebuilt
sections say so. When even that is impossible, ``ManifestError`` says what to do.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
from pathlib import Path

MANIFEST = "report.json"
INDEX = "index.html"
LOCK = ".report.lock"
SCHEMA = "fastnn.report/1"
FIGURE_SUFFIXES = (".png", ".gif", ".svg")

log = logging.getLogger("fastnn.experiments")


class ManifestError(RuntimeError):
    """report.json is damaged and cannot be rebuilt or set aside: the message says what to do."""


def empty() -> dict:
    return {"schema": SCHEMA, "header": {}, "sections": {}}


@contextlib.contextmanager
def locked(out_dir):
    """Hold an exclusive lock on ``out_dir`` (one updater at a time, across processes)."""
    import fcntl

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def read(out_dir):
    """(manifest, problem): the parsed report.json and None, or (None, why it is unreadable).
    A folder without report.json gives an empty manifest."""
    path = Path(out_dir) / MANIFEST
    if not path.exists():
        return empty(), None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        return None, f"cannot be read ({exc.strerror or exc})"
    except ValueError as exc:
        return None, f"is not valid JSON ({exc}; truncated or edited?)"
    if not isinstance(data, dict) or not isinstance(data.get("sections"), dict):
        return None, "is not a fastnn report manifest (no 'sections' object)"
    if not all(isinstance(s, dict) for s in data["sections"].values()):
        return None, "has sections that are not objects"
    data.setdefault("header", {})
    data["schema"] = SCHEMA
    return data, None


def load(out_dir, *, set_aside=False) -> dict:
    """The manifest of ``out_dir``; a damaged one is rebuilt from the runs' metrics JSON.
    With ``set_aside`` (only under ``locked``) the damaged file is first renamed to
    report.json.damaged-<time> so nothing is lost when the rebuilt one is written."""
    data, problem = read(out_dir)
    if problem is None:
        return data
    out_dir = Path(out_dir)
    kept = None
    if set_aside:
        kept = out_dir / f"{MANIFEST}.damaged-{_dt.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
        try:
            os.replace(out_dir / MANIFEST, kept)
        except OSError as exc:
            raise ManifestError(f"{out_dir / MANIFEST} {problem}, and it cannot be set aside ({exc.strerror or exc}); "
                                f"move it away yourself (e.g. mv report.json report.json.bak) and run "
                                f"`fastnn report --out {out_dir}` to rebuild it from the runs") from None
    rebuilt = rebuild_from_runs(out_dir, problem, kept)
    n_runs = sum(len(s["runs"]) for s in rebuilt["sections"].values())
    log.warning("%s %s; rebuilt %d section(s) with %d run(s) from the runs' metrics JSON files%s",
                out_dir / MANIFEST, problem, len(rebuilt["sections"]), n_runs,
                f" (the damaged file is kept as {kept.name})" if kept else "")
    return rebuilt


def _run_row(out_dir: Path, path: Path, record: dict) -> dict:
    return {"name": str(record.get("run", path.stem)), "json": path.relative_to(out_dir).as_posix(),
            "metrics": record.get("metrics") or {}, "stopped": record.get("stopped"),
            "message": record.get("message") or "", "wall_time": record.get("wall_time"),
            "engine": record.get("engine"), "figures": [f for f in record.get("figures") or []
                                                        if (out_dir / f).exists()]}


def rebuild_from_runs(out_dir, problem="was missing", kept=None) -> dict:
    """A manifest rebuilt from ``<ID>/runs/*.json`` (run tables, figures, dataset); notes,
    verdicts and logs are not in those files and are marked as lost."""
    from . import metrics_schema
    from .registry import REGISTRY, all_experiments

    out_dir = Path(out_dir)
    try:
        all_experiments()
    except Exception:  # noqa: BLE001 - titles are a nicety here
        pass
    manifest = empty()
    for folder in sorted(p for p in out_dir.iterdir() if p.is_dir() and (p / "runs").is_dir()):
        rows, dataset, mtime = [], None, 0.0
        for path in sorted(p for p in (folder / "runs").glob("*.json") if not p.name.startswith(".")):  # not temp files
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if metrics_schema.validate(record) or record.get("experiment") != folder.name:
                continue
            rows.append(_run_row(out_dir, path, record))
            dataset = dataset or (record.get("dataset") or {}).get("name")
            mtime = max(mtime, path.stat().st_mtime)
        if not rows:
            continue
        exp = REGISTRY.get(folder.name)
        run_figs = {f for r in rows for f in r["figures"]}
        figures = [{"path": p.relative_to(out_dir).as_posix(), "caption": p.stem, "run": None, "featured": False}
                   for p in sorted(folder.iterdir()) if p.suffix.lower() in FIGURE_SUFFIXES]
        figures += [{"path": f, "caption": Path(f).stem.split(".")[-1], "run": r["name"], "featured": False}
                    for r in rows for f in r["figures"] if f in run_figs]
        when = _dt.datetime.fromtimestamp(mtime).astimezone().isoformat(timespec="seconds")
        manifest["sections"][folder.name] = {
            "id": folder.name, "title": exp.title if exp else folder.name, "question": exp.question if exp else "",
            "varies": exp.varies if exp else "", "group": exp.group if exp else folder.name.rstrip("0123456789"),
            "status": "recovered", "error": "", "started": when, "finished": when, "run_time": None,
            "params": {"dataset": dataset}, "header": {}, "figures": figures, "runs": rows, "log": [],
            "notes": [f"Rebuilt from the runs' metrics JSON files because report.json {problem}"
                      + (f" (kept as {kept.name})" if kept else "")
                      + f": the run table and figures are complete, the notes and verdicts were lost — rerun "
                        f"`fastnn run {folder.name}` to restore them (finished runs are not trained again)."],
        }
    manifest["recovered"] = {"problem": problem, "kept_as": kept.name if kept else None,
                             "when": _dt.datetime.now().astimezone().isoformat(timespec="seconds")}
    return manifest


def write(out_dir, manifest, render) -> Path:
    """Write report.json and index.html (atomically; call under ``locked``)."""
    from .._atomic import write_text

    out_dir = Path(out_dir)
    manifest["updated"] = _dt.datetime.now().astimezone().isoformat(timespec="seconds")
    write_text(out_dir / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False, allow_nan=False, default=str))
    write_text(out_dir / INDEX, render(manifest))
    return out_dir / INDEX


def update(out_dir, sections=(), header=None, *, render) -> Path:
    """Merge ``sections`` (replacing those with the same id) into the manifest on disk and
    rewrite report.json and index.html, all under the folder's lock: concurrent updaters
    each see the others' sections. Returns the index path."""
    out_dir = Path(out_dir)
    with locked(out_dir):
        manifest = load(out_dir, set_aside=True)
        for sec in sections:
            manifest["sections"][sec["id"]] = sec
        if header:
            manifest["header"] = dict(header)
        return write(out_dir, manifest, render)
