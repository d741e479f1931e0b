"""`rag eval ...`: measure quality on a gold file and write reports. Registered in rag/cli.py.

Imports stay light here (the library loads models only when a command runs). Paths are relative to
the working directory, so `rag eval` run from the repo uses eval/gold.jsonl and eval/reports/.
"""

from __future__ import annotations

from pathlib import Path

import click

from rag.config import get_settings
from rag.errors import fail_cleanly
from rag.evaluation.gold import SPLITS
from rag.options import collection_option

GOLD = Path("eval/gold.jsonl")
REPORTS = Path("eval/reports")
CONFIGS = ("vanilla", "dense", "bm25", "hybrid", "hybrid+rerank")  # as rag.evaluation.retrieval.CONFIGS

gold_option = click.option(
    "--gold", type=click.Path(path_type=Path), default=GOLD, show_default=True, help="Gold JSONL file."
)
out_option = click.option(
    "--out", type=click.Path(path_type=Path), default=REPORTS, show_default=True, help="Report folder."
)
split_option = click.option(
    "--split",
    type=click.Choice(SPLITS),
    default="all",
    show_default=True,
    help="Gold items to use: dev (for tuning), test (for reporting only) or all.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def eval_group() -> None:
    """Measure retrieval and answer quality on the gold questions, and fit the abstention decision."""


@eval_group.command()
@gold_option
@click.option("-k", "k", type=click.IntRange(1, 50), default=10, show_default=True, help="Results per question.")
@click.option(
    "--configs",
    default=",".join(CONFIGS),
    show_default=True,
    help=f"Comma-separated configs from: {', '.join(CONFIGS)}.",
)
@split_option
@out_option
@collection_option
@click.pass_context
@fail_cleanly
def retrieval(ctx: click.Context, gold: Path, k: int, configs: str, split: str, out: Path) -> None:
    """hit@1/3/5/10, MRR, nDCG, recall and latency for each retrieval config; writes retrieval.md/.json/.png."""
    from rag.evaluation.report import table, write_reports
    from rag.evaluation.retrieval import evaluate_retrieval

    settings = get_settings(**(ctx.obj or {}))
    report = evaluate_retrieval(settings, gold, configs.split(","), k, split=split)
    click.echo(table(report))
    for path in write_reports(report, out):
        click.echo(f"wrote {path}")


@eval_group.command()
@gold_option
@out_option
@split_option
@click.option("--limit", type=int, help="Only the first N gold questions of the split [default: all].")
@click.option("--llm", type=click.Choice(["local", "openai"]), help="LLM backend [default: RAG_LLM or local].")
@click.option("--model", help="LLM model: qwen2.5-1.5b (default local), qwen2.5-0.5b, a GGUF path or a server name.")
@click.option("--name", default="answers", show_default=True, help="Report file stem, e.g. answers-0.5b.")
@click.option(
    "--replay",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    multiple=True,
    help="Reuse what the model wrote in this earlier answers report instead of running it (fast; for tuning). "
    "Repeat it to lay a later run of some items over an earlier one.",
)
@collection_option
@click.pass_context
@fail_cleanly
def answers(
    ctx: click.Context,
    gold: Path,
    out: Path,
    split: str,
    limit: int | None,
    llm: str | None,
    model: str | None,
    name: str,
    replay: tuple[Path, ...],
) -> None:
    """Key facts, citations, abstention and latency per split and question type; writes NAME.md/.json/.png
    and NAME-wrong.jsonl (every wrong answer)."""
    from rag.evaluation.answers import evaluate_answers
    from rag.evaluation.report import answer_table, write_answer_reports

    settings = get_settings(**(ctx.obj or {}), llm=llm, llm_model=model)
    report = evaluate_answers(settings, gold, split=split, limit=limit, replay=list(replay))
    click.echo(answer_table(report))
    for path in write_answer_reports(report, out, name):
        click.echo(f"wrote {path}")


@eval_group.command()
@click.option(
    "--records",
    type=click.Path(path_type=Path),
    default=REPORTS / "calibration-replay.json",
    show_default=True,
    help="An answers report of the dev split run with RAG_GATE_THRESHOLD=0 (every question reaches the model).",
)
@out_option
@click.option(
    "--write/--no-write",
    default=True,
    show_default=True,
    help="Write the fitted weights into rag/decision-<RAG_EMBED_MODEL>.json.",
)
@click.pass_context
@fail_cleanly
def calibrate(ctx: click.Context, records: Path, out: Path, write: bool) -> None:
    """Fit the answer-or-abstain decision on the dev records only; report the trade-off and a reliability plot."""
    from rag.decision import own_weights_path
    from rag.evaluation.calibration import calibrate as fit

    model = get_settings(**(ctx.obj or {})).embed_model
    target = own_weights_path(model)
    for line in fit(records, out, write, target):
        click.echo(line)
