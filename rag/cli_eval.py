"""`rag eval ...`: measure quality on eval/gold.jsonl and write reports. Registered in rag/cli.py.

Imports stay light here (the library loads models only when a command runs), and `fail_cleanly` is
imported inside the command because rag.cli imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rag.config import get_settings
from rag.evaluation import CONFIGS, GOLD_PATH, REPORTS_DIR


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def eval_group() -> None:
    """Measure retrieval and answer quality on the gold questions."""


@eval_group.command()
@click.option("--gold", type=click.Path(path_type=Path), default=GOLD_PATH, show_default=True, help="Gold JSONL.")
@click.option("-k", "k", type=click.IntRange(1, 50), default=10, show_default=True, help="Results per question.")
@click.option(
    "--configs",
    default=",".join(CONFIGS),
    show_default=True,
    help=f"Comma-separated configs from: {', '.join(CONFIGS)}.",
)
@click.option("--out", type=click.Path(path_type=Path), default=REPORTS_DIR, show_default=True, help="Report folder.")
@click.pass_context
def retrieval(ctx: click.Context, gold: Path, k: int, configs: str, out: Path) -> None:
    """hit@1/3/5/10, MRR, nDCG, recall and latency for each retrieval config; writes retrieval.md/.json/.png."""
    from rag.cli import fail_cleanly

    fail_cleanly(run_retrieval)(ctx.obj or {}, gold, k, configs, out)


def run_retrieval(options: dict[str, Any], gold: Path, k: int, configs: str, out: Path) -> None:
    from rag.eval_report import table, write_reports
    from rag.evaluation import evaluate_retrieval

    settings = get_settings(**options)
    report = evaluate_retrieval(settings, gold, configs.split(","), k)
    click.echo(table(report))
    for path in write_reports(report, out):
        click.echo(f"wrote {path}")


@eval_group.command()
@click.option("--gold", type=click.Path(path_type=Path), default=GOLD_PATH, show_default=True, help="Gold JSONL.")
@click.option("--out", type=click.Path(path_type=Path), default=REPORTS_DIR, show_default=True, help="Report folder.")
@click.option("--limit", type=int, help="Only the first N gold questions [default: all].")
@click.option("--llm", type=click.Choice(["local", "openai"]), help="LLM backend [default: RAG_LLM or local].")
@click.option("--model", help="LLM model: qwen2.5-1.5b (default local), qwen2.5-0.5b, a GGUF path or a server name.")
@click.pass_context
def answers(ctx: click.Context, gold: Path, out: Path, limit: int | None, llm: str | None, model: str | None) -> None:
    """Key-fact accuracy, citation precision/recall, abstention and latency; writes answers.md/.json/.png."""
    from rag.cli import fail_cleanly

    fail_cleanly(run_answers)(ctx.obj or {}, gold, out, limit, llm, model)


def run_answers(
    options: dict[str, Any], gold: Path, out: Path, limit: int | None, llm: str | None, model: str | None
) -> None:
    from rag.eval_answers import evaluate_answers
    from rag.eval_report import answer_table, write_answer_reports

    settings = get_settings(**options, llm=llm, llm_model=model)
    report = evaluate_answers(settings, gold, limit)
    click.echo(answer_table(report))
    for path in write_answer_reports(report, out):
        click.echo(f"wrote {path}")
