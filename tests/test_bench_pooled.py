"""BENCHMARKS section 8's pooled reading of the proxy evaluation: the verdicts with one sd pooled over every arm's
seeds, and again without the arm whose seeds spread most, which can set most of a pool."""

from __future__ import annotations

import math

from bench.run import pooled_reading
from mira_core.evaluation.stats import summarize


def _arm(losses: list[float]) -> dict:
    return {**summarize(losses), "seeds": [{"seed": i, "loss": x} for i, x in enumerate(losses)]}


def test_the_pooled_reading_names_the_widest_arm_and_reads_the_pool_without_it():
    # mira and full: tight seeds, 0.02 apart; wide: seeds 0.10 apart, which alone make the pool wide
    arms = {"mira": _arm([5.560, 5.561]), "full": _arm([5.540, 5.541]), "wide": _arm([5.50, 5.60])}
    (line, blank) = pooled_reading(arms)
    sd_all = math.sqrt((2 * 0.001 ** 2 / 2 + 0.1 ** 2 / 2) / 3)
    assert blank == "" and f"({sd_all:.4f}, 3 degrees of freedom" in line
    # pooled over all three, mira and full are within the noise; without `wide`, mira is above full beyond it
    assert "`mira` is within noise of full, wide." in line
    assert "`wide`'s seeds spread most (0.0707) and make 100% of that pool" in line
    assert "without them the pooled sd is 0.0007 and `mira` is higher loss than full (beyond noise)" in line


def test_no_pooled_reading_without_a_common_seed_count_or_a_mira_arm():
    assert pooled_reading({"mira": _arm([5.5, 5.6]), "full": _arm([5.4, 5.5, 5.6])}) == []
    assert pooled_reading({"full": _arm([5.5, 5.6]), "random": _arm([5.4, 5.5])}) == []


def test_the_reading_states_the_seed_count_the_arms_ran():
    arms = {"mira": _arm([5.56, 5.561, 5.559]), "full": _arm([5.54, 5.541, 5.542])}
    (line, _) = pooled_reading(arms)
    assert "where 3 seeds give an arm's own sd 2 degrees of freedom" in line
    assert "bar for two arms of 3 seeds each" in line
    (line, _) = pooled_reading({"mira": _arm([5.56, 5.561]), "full": _arm([5.54, 5.541])})
    assert "where 2 seeds give an arm's own sd 1 degree of freedom" in line
