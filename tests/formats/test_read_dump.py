"""read_dump / parse_text: size limit, decoding, line ends, detection by content, stdin."""

from __future__ import annotations

import io
import sys
import time

import pytest

from cpucompat.errors import InputError
from cpucompat.formats.reader import FORMATS, parse_text, read_dump

from ._samples import (
    AIDA64_B,
    CPUID_R,
    FINGERPRINT,
    LIBCPUID_AIDA64,
    LIBCPUID_NATIVE,
    LIBVIRT_XML,
    PROC_CPUINFO,
)


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_formats():
    assert FORMATS == ("fingerprint", "cpuid-r", "libvirt-xml", "aida64", "libcpuid", "proc-cpuinfo")


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (FINGERPRINT, "fingerprint"),
        (CPUID_R, "cpuid-r"),
        (LIBVIRT_XML, "libvirt-xml"),
        (AIDA64_B, "aida64"),
        (LIBCPUID_NATIVE, "libcpuid"),
        (LIBCPUID_AIDA64, "libcpuid"),
        (PROC_CPUINFO, "proc-cpuinfo"),
    ],
)
def test_detection_by_content_not_name(tmp_path, text, fmt):
    misleading = _write(tmp_path, "dump.xml" if fmt != "libvirt-xml" else "dump.json", text.encode())
    assert read_dump(misleading).format == fmt
    assert read_dump(str(misleading)).path == str(misleading)


def test_empty_file(tmp_path):
    path = _write(tmp_path, "empty.txt", b"")
    with pytest.raises(InputError, match=r"empty\.txt: empty file, expected a CPUID dump \(cpucompat fingerprint"):
        read_dump(path)
    with pytest.raises(InputError, match="empty file"):
        read_dump(_write(tmp_path, "blank.txt", b"\n  \n"))


def test_binary_junk(tmp_path):
    path = _write(tmp_path, "junk.bin", bytes(range(256)) * 4)
    with pytest.raises(InputError, match=r"junk\.bin:1: binary data, expected a text CPUID dump"):
        read_dump(path)


def test_nul_byte_names_its_line(tmp_path):
    path = _write(tmp_path, "nul.txt", CPUID_R.encode().replace(b"CPU 1:", b"CPU\x00 1:"))
    with pytest.raises(InputError) as error:
        read_dump(path)
    assert error.value.line == 8 and "binary data" in str(error.value)


def test_invalid_utf8_names_its_line(tmp_path):
    path = _write(tmp_path, "latin.txt", CPUID_R.encode() + b"# caf\xe9\n")
    with pytest.raises(InputError, match=r"latin\.txt:11: binary data"):
        read_dump(path)


def test_crlf_parses_like_lf(tmp_path):
    path = _write(tmp_path, "crlf.txt", CPUID_R.replace("\n", "\r\n").encode())
    assert [c.leaves for c in read_dump(path).cpus] == [c.leaves for c in parse_text(CPUID_R, "x").cpus]
    assert read_dump(_write(tmp_path, "crlf.xml", LIBVIRT_XML.replace("\n", "\r\n").encode())).cpus


def test_utf16_with_bom(tmp_path):
    path = _write(tmp_path, "ps.txt", CPUID_R.encode("utf-16"))
    assert len(read_dump(path).cpus) == 2
    assert len(read_dump(_write(tmp_path, "bom.txt", b"\xef\xbb\xbf" + CPUID_R.encode())).cpus) == 2


def test_50_mb_file_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as stream:
        stream.truncate(50_000_000)  # sparse: no 50 MB write needed
    start = time.perf_counter()
    with pytest.raises(InputError, match=r"huge\.txt: file is 50\.0 MB; a CPUID dump is at most 32 MiB"):
        read_dump(path)
    assert time.perf_counter() - start < 0.5


def test_unknown_format(tmp_path):
    path = _write(tmp_path, "notes.txt", b"hello\nworld\n")
    with pytest.raises(InputError) as error:
        read_dump(path)
    assert error.value.line == 1
    assert str(error.value).startswith("%s:1: unknown format: expected one of cpucompat fingerprint JSON" % path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="cannot read: No such file"):
        read_dump(tmp_path / "nope.txt")
    with pytest.raises(InputError, match="cannot read"):
        read_dump(tmp_path)


def test_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(CPUID_R.encode())))
    dump = read_dump("-")
    assert dump.path == "<stdin>" and len(dump.cpus) == 2


def test_stdin_over_the_limit(monkeypatch):
    from cpucompat.formats import reader as parsers

    monkeypatch.setattr(parsers, "MAX_BYTES", 100)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(CPUID_R.encode())))
    with pytest.raises(InputError, match="<stdin>: input is over 32 MiB"):
        read_dump("-")
