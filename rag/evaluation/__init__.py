"""Evaluation on gold question files: `gold` (loading, splits, evidence spans), `metrics`, `retrieval`,
`answers`, `calibration` (fitting the answer-or-abstain decision on dev), `report` and the `cli`.

Nothing here is imported by the product at run time, except the fitted decision it writes.
"""
