"""The configuration's keys, defaults and choices come from the dataclasses, once.

A TOML file and the same objects built in Python are equal; every ``Literal`` field's choices are
what validation accepts and lists; the renamed key ``engine`` points to ``inference``.
"""

from __future__ import annotations

from dataclasses import fields
from typing import get_args, get_type_hints

import pytest
from click.testing import CliRunner

from helpers import write_config, write_logs
from iterate.cli import main
from iterate.config import Experiment, Metric, parse_config
from iterate.config.model import DATA_KEYS, EXPERIMENT_KEYS, METRIC_KEYS
from iterate.errors import ConfigError
from iterate.metrics import METRIC_KINDS

MINIMAL = {"experiment": {"name": "exp", "control": "control"},
           "metrics": [{"name": "conversion", "type": "proportion", "event": "purchase"}]}


def test_a_minimal_toml_takes_the_defaults_of_the_dataclasses():
    parsed = parse_config(MINIMAL)
    built = Experiment(name="exp", control="control",
                       metrics=(Metric(name="conversion", type="proportion", event="purchase"),))
    assert parsed == built


def test_the_keys_are_the_fields():
    experiment_fields = {item.name for item in fields(Experiment)}
    assert set(EXPERIMENT_KEYS) | set(DATA_KEYS) | {"metrics", "event_columns", "exposure_columns",
                                                                  "history", "rollout"} == experiment_fields
    assert set(METRIC_KEYS) == {item.name for item in fields(Metric)} | {"day"}


@pytest.mark.parametrize("cls, section", [(Experiment, "experiment"), (Metric, "metrics")])
def test_each_literal_field_rejects_other_values_and_lists_its_choices(cls, section):
    hints = get_type_hints(cls)
    literal_fields = {item.name: get_args(hints[item.name]) for item in fields(cls)
                      if getattr(hints[item.name], "__origin__", None) is not None and get_args(hints[item.name])
                      and all(isinstance(choice, str) for choice in get_args(hints[item.name]))}
    assert literal_fields, cls
    for name, choices in literal_fields.items():
        document = {"experiment": dict(MINIMAL["experiment"]), "metrics": [dict(MINIMAL["metrics"][0])]}
        target = document["experiment"] if section == "experiment" else document["metrics"][0]
        for choice in choices:
            target[name] = choice
            if name != "role" or choice != "guardrail":
                parse_config(document)
        target[name] = "no-such-choice"
        with pytest.raises(ConfigError) as raised:
            parse_config(document)
        assert any(f"{name} == 'no-such-choice', must be one of {', '.join(choices)}" in problem
                   for problem in raised.value.problems), raised.value.problems


def test_the_metric_type_choices_are_the_registry():
    document = {**MINIMAL, "metrics": [{"name": "conversion", "type": "active_day", "event": "purchase"}]}
    with pytest.raises(ConfigError) as raised:
        parse_config(document)
    assert raised.value.problems == [
        f"[[metrics]] #1 (conversion): type == 'active_day', must be one of {', '.join(METRIC_KINDS)}; "
        "did you mean `active_days`?"
    ]


def test_the_old_engine_key_names_the_new_one(tmp_path):
    write_logs(tmp_path, [{"user_id": "a", "timestamp": "2026-01-05 10:00:00", "event": "purchase"}],
               [{"user_id": "a", "variant": "control", "timestamp": "2026-01-05 09:00:00"}])
    config = write_config(tmp_path, experiment_extra={"engine": "both"})
    outcome = CliRunner().invoke(main, ["analyze", str(config)])
    assert outcome.exit_code == 2
    assert '[experiment] `engine` is now called `inference`; rename it: inference = "both"' in outcome.output
    assert "Traceback" not in outcome.output


def test_inference_both_adds_the_bayesian_view():
    document = {**MINIMAL, "experiment": {**MINIMAL["experiment"], "inference": "both"}}
    assert parse_config(document).inference == "both"


@pytest.mark.parametrize("split", [{"control": 0.5, "treatment": 0.6}, {"control": 0.33, "a": 0.33, "b": 0.33},
                                   {"control": 1, "treatment": 1}])
def test_a_split_must_sum_to_1(split):
    with pytest.raises(ConfigError, match=r"expected_split sums to .*, must sum to 1"):
        Experiment(name="exp", control="control", expected_split=split,
                   metrics=(Metric(name="conversion", type="proportion", event="purchase"),))


@pytest.mark.parametrize("split", [{"control": 1 / 3, "a": 1 / 3, "b": 1 / 3}, {"control": 0.333333, "a": 0.333333, "b": 0.333333},
                                   {"control": 0.34, "a": 0.33, "b": 0.33}, {"control": 0.5, "treatment": 0.5}])
def test_a_split_summing_to_1_within_1e6_is_accepted(split):
    experiment = Experiment(name="exp", control="control", expected_split=split,
                            metrics=(Metric(name="conversion", type="proportion", event="purchase"),))
    assert experiment.expected_split == split


def test_the_suggested_split_sums_to_1_and_is_accepted():
    with pytest.raises(ConfigError) as raised:
        parse_config({**MINIMAL, "experiment": {**MINIMAL["experiment"],
                                                "expected_split": {"control": 2, "b": 2, "c": 2}}})
    suggestion = raised.value.problems[0].split("write ", 1)[1]
    import tomllib

    split = tomllib.loads(suggestion)["expected_split"]
    assert split == {"control": 0.333333, "b": 0.333333, "c": 0.333334}
    parse_config({**MINIMAL, "experiment": {**MINIMAL["experiment"], "expected_split": split}})


@pytest.mark.parametrize("cap", [-5, 0])
def test_a_fixed_cap_must_be_positive(cap):
    from iterate.config import Cap

    with pytest.raises(ConfigError, match=r"cap == .*must be a number > 0"):
        Experiment(name="exp", control="control",
                   metrics=(Metric(name="revenue", type="mean", event="purchase", value="value", cap=Cap(value=cap)),))


def test_a_config_saved_with_a_byte_order_mark_is_read(tmp_path):
    """Was "Invalid statement at line 1": Windows editors save UTF-8 with a BOM."""
    from helpers import config_text
    from iterate.config import load_config

    path = tmp_path / "experiment.toml"
    path.write_text(config_text(), encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    assert load_config(path).name == "exp"


def test_the_history_table_keys_are_its_fields_and_its_path_follows_the_config(tmp_path):
    from iterate.config import History, load_config
    from iterate.config.model import HISTORY_KEYS

    assert set(HISTORY_KEYS) == {item.name for item in fields(History)}
    config = tmp_path / "experiment.toml"
    config.write_text('[experiment]\nname = "exp"\ncontrol = "control"\n\n[[metrics]]\nname = "retention_7"\n'
                      'type = "retention"\nevent = "app_open"\nday = 7\nrole = "guardrail"\n\n'
                      '[history]\npath = "h.duckdb"\nbudget = { retention_7 = 0.03 }\n')
    history = load_config(config).history
    assert history == History(path=str(tmp_path / "h.duckdb"), budget={"retention_7": 0.03})
    assert history.initial_wealth == pytest.approx(0.005)
