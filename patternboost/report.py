"""A task run's report: report.json, report.md and PNG plots in the run directory, rewritten after each evaluation.

report.json holds the task's latest metrics at the top level (accuracy first), the run's position under "run",
and the scalar metrics of every evaluation so far under "history". Scalars go in the markdown summary table; a
dict of numbers (accuracy by length, by outcome, ...) gets its own table and plot; lists are printed as they are.
"""
import json
import numbers
import os
import tempfile

from patternboost.rundir import write_atomic

RESERVED = ("run", "history")


def metrics_of(report):
    """The task's own metrics: the report without its reserved entries."""
    return {k: v for k, v in report.items() if k not in RESERVED}


def scalars(metrics):
    return {k: v for k, v in metrics.items() if isinstance(v, numbers.Real) or v is None}


def numeric_dicts(metrics):
    return {k: v for k, v in metrics.items()
            if isinstance(v, dict) and v and all(isinstance(x, numbers.Real) for x in v.values())}


def write_report(run, report):
    write_atomic(run.file("report.json"), json.dumps(report, indent=1) + "\n")
    write_atomic(run.file("report.md"), markdown(report))
    plot(report, run.path)


def fmt(value):
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real):
        return f"{value:.4g}"
    return str(value)


def markdown(report):
    run = report["run"]
    metrics = metrics_of(report)
    lines = [f"# {run['task']} {run['params']}", "",
             (f"Round {run['round']}, step {fmt(run['step'])}, {fmt(run['examples'])} training examples "
              f"({describe_data(run)})."), "", "| metric | value |", "|---|---|"]
    numbers, tables = scalars(metrics), numeric_dicts(metrics)
    lines += [f"| {k} | {fmt(v)} |" for k, v in numbers.items()]
    for name, values in metrics.items():
        if name in numbers:
            continue
        if name in tables:
            lines += ["", f"## {name}", "", "| key | value |", "|---|---|"]
            lines += [f"| {k} | {fmt(v)} |" for k, v in values.items()]
        else:
            shown = ", ".join(map(fmt, values)) if isinstance(values, list) else json.dumps(values)
            lines += ["", f"**{name}**: {shown}"]
    history = report["history"]
    if history:
        columns = ["round", "step", "train_loss", *[k for k in history[-1] if k not in
                                                    ("round", "step", "train_loss")]]
        lines += ["", "## History", "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(fmt(h.get(c)) for c in columns) + " |" for h in history]
    return "\n".join(lines) + "\n"


def describe_data(run):
    data, stats = run["data"], run["data_stats"]
    text = f"regime {data['regime']}"
    if data["regime"] == "budget":
        text += f", budget {fmt(data['budget'])}, each seen {stats['repetitions']:.3g} times"
    elif data["regime"] == "two_set":
        text += f", |S| = {fmt(data['repeated_size'])}, p = {data['repeated_prob']:g}"
    if data["primers"]:
        text += f", {data['primers']} primers"
    return text + f", {fmt(round(stats['distinct']))} distinct"


def plot(report, directory):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = report["history"]
    figure, axis = plt.subplots(figsize=(6, 4))
    steps = [h["step"] for h in history]
    for name in [k for k in history[-1] if "accuracy" in k] if history else []:
        axis.plot(steps, [h.get(name) for h in history], marker=".", label=name)
    axis.set_xlabel("training step")
    axis.set_ylabel("accuracy")
    axis.set_ylim(-0.02, 1.02)
    if history and history[-1].get("train_loss") is not None:
        loss_axis = axis.twinx()
        loss_axis.plot(steps, [h.get("train_loss") for h in history], color="gray", linestyle="--", label="loss")
        loss_axis.set_ylabel("train loss (dashed)")
    axis.legend(fontsize=7, loc="upper left")
    axis.set_title(f"{report['run']['task']}: accuracy during training", fontsize=9)
    save(figure, os.path.join(directory, "report-history.png"))
    for name, values in numeric_dicts(metrics_of(report)).items():
        figure, axis = plt.subplots(figsize=(6, 3.5))
        keys = list(values)
        axis.bar(range(len(keys)), list(values.values()))
        step = max(1, len(keys) // 25)
        axis.set_xticks(range(0, len(keys), step), keys[::step], rotation=90, fontsize=7)
        axis.set_title(f"{report['run']['task']}: {name} (round {report['run']['round']})", fontsize=9)
        save(figure, os.path.join(directory, f"report-{name}.png"))


def save(figure, path):
    """Draw to a temporary file beside `path`, then rename: a reader never sees half a PNG."""
    import matplotlib.pyplot as plt

    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path) or ".", suffix=".png")
    os.close(handle)
    try:
        figure.tight_layout()
        figure.savefig(temporary, dpi=100)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; the report is for reading
        os.replace(temporary, path)
    finally:
        plt.close(figure)
        if os.path.exists(temporary):
            os.unlink(temporary)
