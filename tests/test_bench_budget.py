"""The benchmarks state whether a run met its issue's speed budget (the verdict only: no timing here)."""

from benchmarks.harness import Budget


def test_a_budget_verdict_names_each_bound_met_or_not() -> None:
    budget = Budget(20_000, 3.0)
    assert budget.verdict({"items_per_s": 25_000, "seconds": 2.0, "baseline_seconds": 1.0}) == \
        "budget ≥ 20,000/s met, ≤ 3× baseline met"
    assert budget.verdict({"items_per_s": 6_400, "seconds": 8.0, "baseline_seconds": 0.02}) == \
        "budget ≥ 20,000/s NOT met, ≤ 3× baseline NOT met"
    assert Budget(None, 3.0).verdict({"items_per_s": 10, "seconds": 1.0}) == ""  # no baseline: nothing to say
