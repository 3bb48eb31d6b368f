"""The kernel's CPU list syntax, bounded (issue 12 #8)."""

from __future__ import annotations

import time

import pytest

from cpucompat.cpulist import MAX_CPU, format_cpu_list, parse_cpu_list
from cpucompat.errors import UsageError


def test_lists_and_overlapping_ranges():
    assert parse_cpu_list("0,2-3") == [0, 2, 3]
    assert parse_cpu_list("3-5,0-4,9") == [0, 1, 2, 3, 4, 5, 9]
    assert format_cpu_list(parse_cpu_list("0-3,8,10-11")) == "0-3,8,10-11"


def test_many_large_ranges_cost_no_more_than_one():
    start = time.perf_counter()
    assert len(parse_cpu_list(",".join([f"0-{MAX_CPU}"] * 1500))) == MAX_CPU + 1
    assert time.perf_counter() - start < 2


@pytest.mark.parametrize("text", [f"0-{MAX_CPU + 1}", "99999999999999999999", "1-99999999999", "5-3", "a", ""])
def test_out_of_range_and_malformed_lists_are_usage_errors(text):
    with pytest.raises(UsageError):
        parse_cpu_list(text)
