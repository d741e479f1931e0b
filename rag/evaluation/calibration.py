"""Fit the answer-or-abstain decision (rag.decision) on the dev split, never on test.

Input: an answers report run with `RAG_GATE_THRESHOLD=0`, so every question reached the model and every
record carries all signals (`features`). Two logistic regressions are fitted on the dev records, the
label being "the documents answer this question" (not should_abstain):
- `pre`, on the evidence signals alone: it gates the model call;
- `post`, on evidence and answer signals: it makes the final decision.
Class weights are balanced (answerable questions outnumber unanswerable ones). The weights go to
rag/decision-<embed model>.json; the thresholds are settings, and this reports the dev trade-off to choose them,
with 5-fold out-of-fold predictions so the dev numbers are not those of a model that saw the item.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rag.decision import ANSWER_FEATURES, EVIDENCE_FEATURES, WEIGHTS_PATH
from rag.errors import RagError
from rag.evaluation.metrics import abstention_scores

STAGES = {"pre": EVIDENCE_FEATURES, "post": EVIDENCE_FEATURES + ANSWER_FEATURES}
REGULARISATION = 1.0  # sklearn's C: the dev split is small, keep the weights modest
MIN_GATE_RECALL = 0.97  # the gate may drop at most 3% of dev's answerable questions before the model


def calibrate(records_path: Path, out_dir: Path, write: bool = True, target: Path = WEIGHTS_PATH) -> Iterator[str]:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import cross_val_predict

    records = load_records(records_path)
    dev = [r for r in records if r["split"] == "dev"]
    if len({r["should_abstain"] for r in dev}) < 2:
        raise RagError(f"{records_path} needs dev records of both answerable and unanswerable questions")
    y = np.array([0 if r["should_abstain"] else 1 for r in dev])
    fitted: dict[str, Any] = {"note": f"fitted by `rag eval calibrate` on {len(dev)} dev records of {records_path}"}
    yield f"dev records: {len(dev)} ({int(y.sum())} answerable, {int(len(y) - y.sum())} should abstain)"
    for stage, names in STAGES.items():
        x = np.array([[r["features"].get(n, 0.0) for n in names] for r in dev])
        model = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=1000)
        oof = cross_val_predict(model, x, y, cv=5, method="predict_proba")[:, 1]
        model.fit(x, y)
        fitted[stage] = {
            "bias": round(float(model.intercept_[0]), 4),
            "weights": {n: round(float(w), 4) for n, w in zip(names, model.coef_[0])},
            "dev_auc_out_of_fold": round(float(roc_auc_score(y, oof)), 4),
        }
        yield f"\n{stage}: out-of-fold dev AUC {roc_auc_score(y, oof):.3f}"
        for n in names:  # what each signal is worth alone, for the note
            single = np.array([r["features"].get(n, 0.0) for r in dev])
            yield f"  {n:16s} weight {fitted[stage]['weights'][n]:+.2f}   AUC alone {roc_auc_score(y, single):.3f}"
        yield "  threshold  answerable kept  abstain P  abstain R  abstain F1"
        for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
            yield "  " + trade_off(t, y, oof)
        if stage == "pre":
            kept = [t for t in np.arange(0.0, 0.9, 0.01) if (oof[y == 1] >= t).mean() >= MIN_GATE_RECALL]
            gate = max(kept, default=0.0)
            yield f"  highest gate keeping {MIN_GATE_RECALL:.0%} of answerable: {gate:.2f}"
            for level in (0.6, 0.7, 0.75, 0.8, 0.9):  # the never-refuse rule, Settings.evidence_slot
                strong = [r for r in dev if r["features"].get("slot_typed") == 1 and r["features"]["slot"] >= level]
                good = sum(not r["should_abstain"] for r in strong)
                yield f"  typed slot filled at >= {level:.2f}: {len(strong)} questions, {good} answerable"
        best = max(np.arange(0.05, 0.95, 0.01), key=lambda t: ((oof >= t) == (y == 1)).mean())
        yield f"  most accurate answer/abstain threshold on dev: {best:.2f}"
        fitted[stage]["reliability_dev_out_of_fold"] = reliability(oof.tolist(), y.tolist())
    if write:
        target.write_text(json.dumps(fitted, indent=1) + "\n", encoding="utf-8")
        yield f"\nwrote {target}"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "calibration.png"
    draw_reliability({"dev (out of fold)": fitted["post"]["reliability_dev_out_of_fold"]}, path)
    yield f"wrote {path}"


def load_records(path: Path) -> list[dict[str, Any]]:
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        records = report["records"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RagError(f"cannot read answer records from {path}: {exc}") from exc
    if not records or "features" not in records[0]:
        raise RagError(f"{path} has no records with features; run `RAG_GATE_THRESHOLD=0 rag eval answers` first")
    return records


def trade_off(threshold: float, y: Any, p: Any) -> str:
    abstain = p < threshold
    scores = abstention_scores([bool(v == 0) for v in y], [bool(a) for a in abstain])
    kept = float((~abstain[y == 1]).mean())

    def fmt(v: float | None) -> str:
        return "  –  " if v is None else f"{v:.3f}"

    cells = [fmt(kept), fmt(scores["abstention_precision"]), fmt(scores["abstention_recall"])]
    return f"{threshold:9.2f}  {cells[0]:>15s}  {cells[1]:>9s}  {cells[2]:>9s}  {fmt(scores['abstention_f1']):>10s}"


def reliability(probabilities: list[float], labels: list[int], bins: int = 5) -> list[dict[str, float]]:
    """Per probability bin: mean predicted P(answerable), observed share answerable, and the count."""
    rows = []
    for b in range(bins):
        low, high = b / bins, (b + 1) / bins
        inside = [(p, y) for p, y in zip(probabilities, labels) if low <= p < high or (b == bins - 1 and p == 1.0)]
        if inside:
            rows.append(
                {
                    "predicted": round(sum(p for p, _ in inside) / len(inside), 4),
                    "observed": round(sum(y for _, y in inside) / len(inside), 4),
                    "n": len(inside),
                }
            )
    return rows


def draw_reliability(curves: dict[str, list[dict[str, float]]], path: Path) -> None:
    """Predicted vs observed P(answerable) per bin, one line per curve, the diagonal for reference."""
    from rag.evaluation.report import new_figure

    figure = new_figure(5, 4.6)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], color="#999999", linestyle="--", label="perfectly calibrated")
    for name, rows in curves.items():
        axes.plot([r["predicted"] for r in rows], [r["observed"] for r in rows], marker="o", label=name)
        for r in rows:
            axes.annotate(str(r["n"]), (r["predicted"], r["observed"]), fontsize=7, xytext=(3, -9),
                          textcoords="offset points")  # fmt: skip
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1.02)
    axes.set_xlabel("predicted P(the documents answer)")
    axes.set_ylabel("observed share answerable")
    axes.set_title("Answer-or-abstain decision: reliability")
    axes.legend(fontsize=8, loc="upper left")
    figure.savefig(path, dpi=120)
