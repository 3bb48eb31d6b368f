"""Input text made safe to show (cpucompat.text)."""

from cpucompat.text import printable


def test_controls_separators_and_surrogates_are_escaped():
    assert printable('vm\nmonitor = "FALSE"') == 'vm\\x0amonitor = "FALSE"'
    assert printable("\x1b[2J\x07\x00\x7f\x85") == "\\x1b[2J\\x07\\x00\\x7f\\x85"
    assert printable("a\u2028b\u202ec\ud800d\udcff") == "a\\u2028b\\u202ec\\ud800d\\udcff"
    printable("\udcff").encode("utf-8")  # always encodable


def test_ordinary_names_are_unchanged():
    for name in ("node-a", "dc1/host.txt", "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz", "hôte-é"):
        assert printable(name) == name
