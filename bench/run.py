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
            "09": 600, "10": 600}
HEADROOM = 0.8
# The present profile (models loaded from checkpoints/, issue 10): a limit per notebook.
PRESENT_LIMIT_S = {"08": 120}
PRESENT_DEFAULT_S = 60


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
        timings = nbtools.run(copies)
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
        if profile == "present":          # kept beside the lecture figures, which it does not replace
            results.setdefault(name, {"tables": []})["present"] = {"date": start, "machine": machine,
                                                                   "seconds": round(seconds, 1)}
            continue
        results[name] = {"date": start, "profile": profile, "machine": machine,
                         "seconds": round(seconds, 1), "tables": measured.get(name, []),
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
           "Written by `make bench` (`python bench/run.py [NOTEBOOK ...]` re-measures some). "
           f"Measured on: {'; '.join(machines)}.", "",
           "## Notebooks: wall time (kernel start-up included)", ""]
    rows = []
    for name, r in results.items():
        if "seconds" not in r:
            continue
        budget = BUDGET_S.get(name[:2])
        target = budget * HEADROOM if budget else None
        rows.append({"notebook": name, "profile": r["profile"], "seconds": f"{r['seconds']:.1f}",
                     "budget (s)": budget if budget else "-",
                     f"target: {HEADROOM:.0%} of budget": f"{target:.0f}" if target else "-",
                     "within target": "yes" if target and r["seconds"] <= target else ("NO" if target else "-"),
                     "measured": r["date"]})
    out += [markdown_table(rows), ""]
    present = [{"notebook": name, "seconds": f"{r['present']['seconds']:.1f}",
                "limit (s)": PRESENT_LIMIT_S.get(name[:2], PRESENT_DEFAULT_S),
                "within limit": "yes" if r["present"]["seconds"] <= PRESENT_LIMIT_S.get(name[:2], PRESENT_DEFAULT_S)
                else "NO", "measured": r["present"]["date"]}
               for name, r in results.items() if "present" in r]
    if present:
        out += ["## The present profile: wall time (models from checkpoints/)", "",
                "`COURSE_PROFILE=present make bench NB=...`: each notebook loads its trained models and runs "
                "every other cell live.", "", markdown_table(present), ""]
    for name, r in results.items():
        if r["tables"]:
            out += [f"## {name}: per model", "", markdown_table(r["tables"]), ""]
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
