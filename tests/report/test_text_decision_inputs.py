"""The text report shows every number the decision used (beside the compact main table): the
sequential intervals and the look's alpha, non-inferiority, CUPED and the Bayesian view, checked
line by line against the rows of real analyses."""

from __future__ import annotations

import re

import pytest

from iterate.report import render


def section(text, title_start):
    """Cells of the table under the line starting with ``title_start``: (title, header, rows)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title_start))
    table = []
    for line in lines[start + 2:]:
        if not line:
            break
        table.append(re.split(r" {2,}", line.rstrip()))
    assert set("".join(table[1])) == {"-", " "} or set("".join(table[1])) == {"-"}  # the rule under the header
    return lines[start], table[0], table[2:]


def test_sequential_section_holds_the_anytime_valid_intervals(monitored):
    text = render(monitored, "text")
    title, header, rows = section(text, "Sequential monitoring:")
    assert title == ("Sequential monitoring: intervals and p-values are anytime-valid (mixture SPRT), valid however "
                     "often the experiment is looked at (relative intervals are fixed-horizon and left out):")
    assert header == ["metric", "variant", "effect", "95% interval", "p adj", "outcome"]
    assert rows == [
        [row.name, row.variant, f"{row.effect:+.4g}", f"[{row.ci_low:+.4g}, {row.ci_high:+.4g}]",
         f"{row.p_value_adjusted:.3g}", {"better": "better", "no_difference": "-"}[row.outcome]]
        for row in monitored.metric_results
    ]
    assert all(row.method.endswith("+msprt") for row in monitored.metric_results)


def test_noninferiority_section(monitored):
    _, header, rows = section(render(monitored, "text"), "Non-inferiority")
    opens = next(row for row in monitored.metric_results if row.name == "app_opens")
    assert header == ["metric", "variant", "effect", "margin", "one-sided p", "non-inferior"]
    assert rows == [["app_opens", "treatment", f"{opens.effect:+.4g}", f"{opens.noninferiority_margin:.4g}",
                     f"{opens.noninferiority_p_value:.3g}", "yes"]]
    # a relative margin of 20% of the control mean, in the metric's units
    assert opens.noninferiority_margin == 0.2 * opens.control_mean


def test_cuped_section(monitored):
    _, header, rows = section(render(monitored, "text"), "CUPED")
    assert header == ["metric", "variant", "effect", "unadjusted effect", "std error", "unadjusted std error",
                      "variance reduction"]
    assert rows == [
        [row.name, row.variant, f"{row.effect:+.4g}", f"{row.unadjusted_effect:+.4g}", f"{row.std_error:.4g}",
         f"{row.unadjusted_std_error:.4g}", f"{row.variance_reduction:.1%}"]
        for row in monitored.metric_results
    ]
    for row in monitored.metric_results:  # the variance reduction is 1 - (se_adjusted / se_unadjusted)^2
        assert row.variance_reduction == pytest.approx(1 - (row.std_error / row.unadjusted_std_error) ** 2, rel=1e-6)


def test_bayesian_section(monitored):
    _, header, rows = section(render(monitored, "text"), "Bayesian view")
    assert header == ["metric", "variant", "chance to beat control", "expected loss"]
    assert rows == [[row.name, row.variant, f"{row.chance_to_beat:.1%}", f"{row.expected_loss:.4g}"]
                    for row in monitored.metric_results]


def test_group_sequential_look_alpha(looked):
    title, header, rows = section(render(looked, "text"), "Sequential monitoring:")
    assert title == ("Sequential monitoring: outcomes are judged at the level of their last column (a group-sequential "
                     "look's nominal alpha, or the online-FDR level of the success metrics; overall alpha = 0.05):")
    assert header == ["metric", "variant", "effect", "95% interval", "p adj", "alpha judged at", "outcome"]
    look = looked.metric_results[0].decision_alpha
    assert 0 < look < 0.05
    assert [row[5] for row in rows] == [f"{look:.3g}"] * len(looked.metric_results)
    assert [row[3] for row in rows] == [f"[{r.ci_low:+.4g}, {r.ci_high:+.4g}]" for r in looked.metric_results]
    text = render(looked, "text")
    assert "CUPED" not in text and "Bayesian view" in text


def test_nothing_extra_without_these_methods(by_verdict):
    text = render(by_verdict["rollback"], "text")
    for title in ("Sequential monitoring", "Non-inferiority", "CUPED", "Bayesian view"):
        assert title not in text
