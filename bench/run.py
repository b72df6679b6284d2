"""`make bench`: execute every notebook in the lecture profile and write bench/results.md.

Each notebook runs on a copy (the committed notebooks are left untouched) with
COURSE_BENCH_DIR set, so the figures it measures itself (training throughput, test
losses; see course_lib.bench.record) are collected from that very run. The per-notebook
time is the wall time of executing it, kernel start-up included.

    python bench/run.py [--update-notebooks] [NOTEBOOK ...]      (default: all of notebooks/)

``--update-notebooks`` copies the executed (and cleaned) copies back over the committed
notebooks, so one lecture-profile run both measures and refreshes them; ``--keep=DIR`` keeps
the executed copies in DIR instead (e.g. to read a present-profile run).

Results accumulate in bench/results.json, one entry per notebook with the date and machine
it was measured on, so benchmarking one notebook keeps the others' figures;
bench/results.md is rendered from it.

Beside every time goes the host's speed on that run (``host_s``: seconds of the fixed reference
workload of ``course_lib.bench.host_speed``, timed before and after the notebooks, the mean
of the two): the same host runs a third faster or slower from one day to the next, so a time
without it cannot be compared with a later one. Entries measured before it was recorded show
"not recorded".
"""

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import nbtools  # noqa: E402

# Time budget per notebook in the lecture profile, from the issues that asked for each, keyed
# by the lecture number (a lecture split in two, 06a and 06b, gives each part the budget).
# A notebook must finish within HEADROOM of it: the host's speed varies by tens of percent.
BUDGET_S = {"01": 180, "02": 180, "03": 180, "04": 480, "05": 480, "06": 600, "07": 600, "08": 600,
            "09": 600, "10": 600, "11": 600}
HEADROOM = 0.8
# The present profile (models loaded from checkpoints/, issue 10): a limit per notebook, which
# must hold on a host SLOWER_HOST times slower than the measuring one (issue 23): a present
# time counts as within only if it is at most limit / SLOWER_HOST where it was measured.
PRESENT_LIMIT_S = {"08": 120}
PRESENT_DEFAULT_S = 60
SLOWER_HOST = 1.5
NOT_RECORDED = "not recorded"


def markdown_table(rows):
    columns = list(dict.fromkeys(k for row in rows for k in row))

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 1 else f"{v:,.2f}"
        text = f"{v:,}" if isinstance(v, int) else str(v)
        return text.replace("|", "\\|")  # a literal | would split the cell

    lines = ["| " + " | ".join(fmt(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(row.get(c, "")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def host_figure(entry):
    """The host reference of a results entry, for a table: "2.31", or "not recorded"."""
    return f"{entry['host_s']:.2f}" if entry.get("host_s") else NOT_RECORDED


def measure_host(when):
    from course_lib.bench import host_speed

    seconds = host_speed()
    print(f"host reference {when} the notebooks: {seconds:.2f} s", flush=True)
    return seconds


def versions():
    import course_lib  # noqa: F401  (imports TensorFlow quietly)
    import keras
    import tensorflow as tf

    return f"TensorFlow {tf.__version__}, Keras {keras.__version__}, Python {platform.python_version()}"


def main(argv):
    update = "--update-notebooks" in argv
    keep = next((Path(a.split("=", 1)[1]) for a in argv if a.startswith("--keep=")), None)
    notebooks = [Path(p) for p in argv if not p.startswith("--")] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    os.environ.setdefault("COURSE_PROFILE", "lecture")
    profile = os.environ["COURSE_PROFILE"]
    if profile == "present":      # a present time only for notebooks whose checkpoints are all trained
        missing = {nb: nbtools.present_pending(nb) for nb in notebooks}
        for nb in notebooks:
            if missing[nb]:
                print(f"{nb.name}: skipped, checkpoints {', '.join(missing[nb])} not trained yet")
        notebooks = [nb for nb in notebooks if not missing[nb]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        records = tmp / "records"
        os.environ["COURSE_BENCH_DIR"] = str(records)
        copies = []
        for nb in notebooks:
            shutil.copy(nb, tmp / nb.name)
            copies.append(tmp / nb.name)
        start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        host_runs = [measure_host("before")]
        timings = nbtools.run(copies)
        host_runs.append(measure_host("after"))
        host = {"host_s": round(sum(host_runs) / 2, 2), "host_s_runs": [round(h, 2) for h in host_runs]}
        measured = {p.stem: json.loads(p.read_text()) for p in sorted(records.glob("*.json"))}
        if update:
            for nb, copy in zip(notebooks, copies):
                shutil.copy(copy, nb)
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            for copy in copies:
                shutil.copy(copy, keep / copy.name)

    results_json = ROOT / "bench" / "results.json"
    results = json.loads(results_json.read_text()) if results_json.exists() else {}
    existing = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    results = {name: r for name, r in results.items() if name in existing}   # drop renamed/split ones
    machine = f"{os.cpu_count()} CPU cores ({platform.machine()}), {versions()}"
    for name, seconds in timings.items():
        old = results.get(name, {})
        old = old.get("present", {}) if profile == "present" else old
        if old.get("seconds") and old.get("host_s"):     # the last time, scaled to today's host speed
            print(f"{name}: {seconds:.1f} s; last time {old['seconds']:.1f} s at host reference {old['host_s']:.2f} s, "
                  f"i.e. {old['seconds'] * host['host_s'] / old['host_s']:.1f} s at today's {host['host_s']:.2f} s")
        if profile == "present":          # kept beside the lecture figures, which it does not replace
            results.setdefault(name, {"tables": []})["present"] = {"date": start, "machine": machine,
                                                                   "seconds": round(seconds, 1), **host}
            continue
        results[name] = {"date": start, "profile": profile, "machine": machine,
                         "seconds": round(seconds, 1), **host, "tables": measured.get(name, []),
                         **({"present": results[name]["present"]} if "present" in results.get(name, {}) else {})}
    results = dict(sorted(results.items()))
    results_json.write_text(json.dumps(results, indent=1) + "\n")
    target = ROOT / "bench" / "results.md"
    target.write_text(render(results))
    print(f"wrote {target.relative_to(ROOT)} and {results_json.relative_to(ROOT)}")
    return 0


def render(results):
    """bench/results.md from the accumulated results: one time table, one table per notebook."""
    machines = sorted({r["machine"] for r in results.values() if "machine" in r}
                      | {r["present"]["machine"] for r in results.values() if "present" in r})
    out = ["# Benchmark results", "",
           "Written by `make bench` (`python bench/run.py [NOTEBOOK ...]` re-measures some); how to read "
           "it: [README.md](README.md). "
           f"Measured on: {'; '.join(machines)}.", "",
           "*host reference (s)*: the seconds this host took, on that run, for the fixed reference workload "
           "(`python -m course_lib.bench host-speed`; lower is faster). A time `t` measured at host reference "
           "`h` takes about `t * h2 / h` on a host (or day) whose figure is `h2`. Rows measured before the "
           f"figure was recorded say \"{NOT_RECORDED}\".", "",
           "## Notebooks: wall time (kernel start-up included)", "",
           f"A notebook is within target when it finishes in {HEADROOM:.0%} of its budget, so that the "
           f"budget holds on a host {1 / HEADROOM:g} times slower.", ""]
    rows = []
    for name, r in results.items():
        if "seconds" not in r:
            continue
        budget = BUDGET_S.get(name[:2])
        target = budget * HEADROOM if budget else None
        rows.append({"notebook": name, "profile": r["profile"], "seconds": f"{r['seconds']:.1f}",
                     "host reference (s)": host_figure(r),
                     "budget (s)": budget if budget else "-",
                     f"target: {HEADROOM:.0%} of budget": f"{target:.0f}" if target else "-",
                     "within target": "yes" if target and r["seconds"] <= target else ("NO" if target else "-"),
                     "measured": r["date"]})
    out += [markdown_table(rows), ""]
    present = []
    for name, r in results.items():
        if "present" not in r:
            continue
        limit = PRESENT_LIMIT_S.get(name[:2], PRESENT_DEFAULT_S)
        target = limit / SLOWER_HOST
        present.append({"notebook": name, "seconds": f"{r['present']['seconds']:.1f}",
                        "host reference (s)": host_figure(r["present"]), "limit (s)": limit,
                        f"target: limit / {SLOWER_HOST:g}": f"{target:.0f}",
                        "within target": "yes" if r["present"]["seconds"] <= target else "NO",
                        "measured": r["present"]["date"]})
    if present:
        out += ["## The present profile: wall time (models from checkpoints/)", "",
                "`COURSE_PROFILE=present make bench NB=...`: each notebook loads its trained models and runs "
                f"every other cell live. The limit must hold on a host {SLOWER_HOST:g} times slower than the "
                f"measuring one: a time counts as within target when it is at most limit / {SLOWER_HOST:g}.",
                "", markdown_table(present), ""]
    for name, r in results.items():
        if r["tables"]:
            out += [f"## {name}: per model", "",
                    f"Measured {r.get('date', '?')}, host reference (s): {host_figure(r)}.", "",
                    markdown_table(r["tables"]), ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
