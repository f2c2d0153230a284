"""The ``fastnn`` command: run the experiment suite and list it.

    fastnn list [NAME ...]                     describe experiments (id, title, what varies, defaults)
    fastnn run NAME [NAME ...] [options]       NAME: an id (C1), a group (C) or all
        --dataset mnist-5k|mnist|fashion-mnist|digits   (default mnist-5k, offline)
        --out DIR            output folder (default results): DIR/index.html, DIR/<ID>/…
        --iterations N       override the experiments' iteration count
        --backend B          auto|numpy|numba|cython
        --seed S             seed of every run (default 0)
        --jobs N             run a sweep's variants in N worker processes (joblib), each with
                             cores//N threads; -1 = one per core
        --threads N          threads per run (default cores // parallel runs); with the same
                             threads per run, --jobs N gives bit-for-bit the serial results
        --quick              tiny settings for a smoke test (500 training images, 10 iterations)
        --n-train N          cap the training set
        --set KEY=VALUE      override an experiment parameter (VALUE parsed as JSON if it can be);
                             unknown keys are refused with the list of keys the experiments take.
                             Section C: --set lr_scale=1 trains with the spec's raw lr·Σ rates
                             (default "auto": rates × 60000/N, the course's step sizes)
        --force              retrain runs finished by an earlier invocation (they are cached in
                             DIR/.fastnn-runs, so a rerun after Ctrl-C continues where it stopped)
        --no-progress        no progress bars
    fastnn report [--out DIR]                  rebuild DIR/index.html from DIR/report.json (a damaged
                                               report.json is set aside and rebuilt from the runs' JSON)

Exit codes: 0 all good, 1 an experiment failed, 2 bad usage (unknown experiment or dataset,
output folder not writable), 130 interrupted with Ctrl-C (finished runs are kept).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys

EXIT_USAGE = 2


class _TqdmHandler(logging.Handler):
    """Log lines printed through tqdm.write, so they do not break the progress bars."""

    def emit(self, record):
        try:
            from tqdm.auto import tqdm

            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


def _setup_logging(verbosity):
    logger = logging.getLogger("fastnn.experiments")
    for h in list(logger.handlers):
        if isinstance(h, _TqdmHandler):
            logger.removeHandler(h)
    handler = _TqdmHandler()
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", datefmt="%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if verbosity < 0 else logging.INFO)
    logger.propagate = False
    return handler


def _parse_set(items):
    out = {}
    for item in items or ():
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        if not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r} (no parameter name)")
        try:
            out[key.strip()] = json.loads(value)
        except ValueError:
            out[key.strip()] = value
    return out


def build_parser() -> argparse.ArgumentParser:
    from .experiments.runner import DEFAULT_DATASET, DEFAULT_OUT, MNIST_DATASETS

    parser = argparse.ArgumentParser(prog="fastnn", description="fastnn: run the 'how does an MLP learn' "
                                     "experiment suite and write an HTML report.",
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="examples:\n  fastnn list\n  fastnn run C1\n  fastnn run C --jobs 2\n"
                                            "  fastnn run all --dataset mnist --out results-mnist\n"
                                            "  fastnn run C --quick --out /tmp/smoke")
    sub = parser.add_subparsers(dest="command", metavar="{run,list,report}")

    run = sub.add_parser("run", help="run experiments and update the report",
                         description="Run experiments (ids such as C1, groups such as C, or all) and update "
                                     "OUT/index.html.")
    run.add_argument("names", nargs="+", metavar="NAME", help="experiment id (C1), group (C) or 'all'")
    run.add_argument("--dataset", default=None, metavar="NAME",
                     help=f"{'|'.join(MNIST_DATASETS)} (default {DEFAULT_DATASET}; applies to MNIST experiments)")
    run.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default {DEFAULT_OUT})")
    run.add_argument("--iterations", type=int, default=None, metavar="N", help="override the iteration count")
    run.add_argument("--backend", default=None, metavar="B", help="auto|numpy|numba|cython (default auto)")
    run.add_argument("--seed", type=int, default=None, help="seed of every run (default 0)")
    run.add_argument("--jobs", "-j", type=int, default=1, metavar="N",
                     help="parallel worker processes for a sweep's runs (default 1; -1: one per core)")
    run.add_argument("--parallel-backend", choices=("loky", "dask"), default="loky",
                     help="where --jobs runs go: local processes (loky, default) or a dask.distributed cluster")
    run.add_argument("--scheduler", default=None, metavar="ADDRESS",
                     help="dask scheduler address, e.g. tcp://10.0.0.5:8786 (default: a local cluster)")
    run.add_argument("--threads", type=int, default=None, metavar="N",
                     help="threads per run (default: cores // number of parallel runs)")
    run.add_argument("--quick", action="store_true", help="tiny settings for a smoke test")
    run.add_argument("--n-train", type=int, default=None, metavar="N", help="cap the training set at N images")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="override an experiment parameter (repeatable; VALUE is JSON when it parses)")
    run.add_argument("--force", action="store_true",
                     help="retrain runs that an earlier invocation finished (cached in OUT/.fastnn-runs)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")

    lst = sub.add_parser("list", help="describe the experiments")
    lst.add_argument("names", nargs="*", metavar="NAME", help="only these ids/groups")

    rep = sub.add_parser("report", help="rebuild OUT/index.html from OUT/report.json")
    rep.add_argument("--out", default=DEFAULT_OUT, metavar="DIR")
    return parser


def _error(msg) -> int:
    print(f"fastnn: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def _fmt_default(v):
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (dict, list)):
        text = json.dumps(v, ensure_ascii=False)
        return text if len(text) <= 110 else text[:107] + "…"
    return repr(v) if isinstance(v, str) else str(v)


def _common_defaults(exps):
    """Defaults shared (same value) by every experiment of a group (printed once)."""
    if len(exps) < 2:
        return {}
    first = exps[0].defaults
    return {k: v for k, v in first.items() if all(k in e.defaults and e.defaults[k] == v for e in exps[1:])}


def cmd_list(names) -> int:
    from .experiments import GROUPS, all_experiments, select

    try:
        exps = select(names) if names else all_experiments()
    except ValueError as exc:
        return _error(exc)
    groups = {}
    for e in exps:
        groups.setdefault(e.group, []).append(e)
    for group, members in groups.items():
        print(f"\n{group}. {GROUPS.get(group, '')}")
        common = _common_defaults(members)
        if common:
            print("  common defaults: " + ", ".join(f"{k}={_fmt_default(v)}" for k, v in common.items()))
        for e in members:
            print(f"  {e.id:4s} {e.title}")
            print(f"       question: {e.question}")
            print(f"       varies:   {e.varies}")
            data = {"mnist": "MNIST-format (--dataset)", "toy": "toy 2-D data", "none": "none"}.get(e.data, e.data)
            print(f"       data:     {data}")
            own = {k: v for k, v in e.defaults.items() if k not in common}
            if own:
                print("       defaults: " + ", ".join(f"{k}={_fmt_default(v)}" for k, v in own.items()))
    print("\nRun with: fastnn run <ID|GROUP|all> [--dataset …] [--out DIR] [--jobs N] [--quick]; "
          "override any default with --set KEY=VALUE")
    return 0


def cmd_run(args) -> int:
    from .experiments.runner import ExperimentSetupError, run_experiments

    _setup_logging(-1 if args.quiet else 0)
    try:
        overrides = _parse_set(args.set)
    except ValueError as exc:
        return _error(f"{exc}; {_keys_hint(args.names)}")
    if args.n_train is not None:
        if args.n_train < 1:
            return _error("--n-train must be a positive integer")
        overrides["n_train"] = args.n_train
    if args.iterations is not None and args.iterations < 1:
        return _error("--iterations must be a positive integer")
    from .experiments.runner import MAX_COUNTS

    if args.iterations is not None and args.iterations > MAX_COUNTS["iterations"]:
        return _error(f"--iterations {args.iterations:,} is more than fastnn runs ({MAX_COUNTS['iterations']:,} "
                      "training steps); is it a typo?")
    command = "fastnn " + " ".join(shlex.quote(a) for a in args.argv)
    try:
        cluster = _parallel_backend(args)
    except (ImportError, OSError) as exc:
        return _error(exc)
    try:
        with cluster:
            summary = run_experiments(args.names, out=args.out, dataset=args.dataset, iterations=args.iterations,
                                      backend=args.backend, seed=args.seed, jobs=args.jobs, quick=args.quick,
                                      overrides=overrides, progress=not args.no_progress, command=command,
                                      threads=args.threads, force=args.force)
    except (ExperimentSetupError, ValueError) as exc:
        return _error(exc)
    except KeyboardInterrupt:  # before anything ran
        print("fastnn: interrupted", file=sys.stderr)
        return 130
    print(f"report: {os.path.abspath(summary.index)}", file=sys.stderr)
    if summary.failed:
        print(f"fastnn: {len(summary.failed)} experiment(s) failed: {', '.join(summary.failed)} "
              f"(tracebacks in the report and above)", file=sys.stderr)
    return summary.exit_code


def _keys_hint(names) -> str:
    """'C1 takes: …' for the named experiments (or how to list them)."""
    from .experiments import select
    from .experiments.runner import accepted_keys

    try:
        exps = select(names)
    except ValueError:
        return "see `fastnn list` for each experiment's parameters"
    keys = sorted(set().union(*(accepted_keys(e) for e in exps)))
    return f"{', '.join(e.id for e in exps)} {'takes' if len(exps) == 1 else 'take'}: {', '.join(keys)}"


def _parallel_backend(args):
    """A context in which --jobs runs go to the chosen engine: joblib's loky processes, or a
    dask.distributed cluster (the scheduler at --scheduler, else a local one) through
    joblib.parallel_config(backend="dask")."""
    import contextlib

    if args.parallel_backend != "dask":
        if args.scheduler:
            raise ImportError("--scheduler needs --parallel-backend dask")
        return contextlib.nullcontext()
    try:
        import joblib
        from distributed import Client
    except ImportError as exc:
        raise ImportError(f"--parallel-backend dask needs dask.distributed: pip install 'fastnn[dask]' ({exc})")
    stack = contextlib.ExitStack()
    client = stack.enter_context(Client(args.scheduler) if args.scheduler else Client(processes=True))
    print(f"fastnn: running on the dask cluster at {client.scheduler.address}", file=sys.stderr)
    stack.enter_context(joblib.parallel_config(backend="dask"))
    return stack


def cmd_report(args) -> int:
    from .experiments import report

    from .experiments.manifest import ManifestError, rebuild_from_runs, update

    path = os.path.join(args.out, report.MANIFEST)
    _setup_logging(0)
    rebuilt = None
    if not os.path.exists(path):
        rebuilt = rebuild_from_runs(args.out, "was missing") if os.path.isdir(args.out) else None
        if not rebuilt or not rebuilt["sections"]:
            return _error(f"{path} does not exist; run some experiments first (fastnn run … --out {args.out})")
        print(f"fastnn: {path} was missing: rebuilt {len(rebuilt['sections'])} section(s) from the runs' metrics "
              f"JSON files", file=sys.stderr)
    try:
        index = update(args.out, list(rebuilt["sections"].values()), render=report.render) if rebuilt \
            else report.rebuild(args.out)
    except ManifestError as exc:
        return _error(exc)
    except OSError as exc:
        return _error(f"cannot write the report in {args.out!r}: {exc}")
    print(index)
    return 0


def main(argv=None) -> int:
    os.environ.setdefault("MPLBACKEND", "Agg")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    args.argv = argv
    try:
        if args.command == "list":
            return cmd_list(args.names)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "report":
            return cmd_report(args)
    except BrokenPipeError:  # `fastnn list | head`
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0
    parser.print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
