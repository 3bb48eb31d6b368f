"""data/remedies.csv and data/loss-reasons.csv: every row names real things, and the modules that
word a BIOS setting or a loss reason read it from there (one home)."""

from __future__ import annotations

from cpucompat.knowledge.features import feature_table
from cpucompat.knowledge.remedies import action, loss_reasons, remedies
from cpucompat.knowledge.tables import rows as table


def test_every_loss_reason_names_a_canonical_feature_and_a_source():
    rows = table("loss-reasons.csv")
    assert rows, "data/loss-reasons.csv is empty"
    for row in rows:
        assert row["feature"] in feature_table().by_name, row
        assert row["reason"] and row["source"], row


def test_bios_findings_that_hide_a_feature_have_a_loss_reason_and_a_remedy():
    for row in table("finding-features.csv"):
        assert row["feature"] in loss_reasons(), row
        assert remedies()[row["finding"]].action.endswith("in the BIOS"), row


def test_action_of_an_unknown_cause_is_the_cause_itself():
    assert action("nx-disabled") == remedies()["nx-disabled"].action
    assert action("no-such-cause") == "no-such-cause"
