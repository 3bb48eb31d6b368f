"""--load-msr runs the system's modprobe, never one found through $PATH (issue 12 #16)."""

from __future__ import annotations

import subprocess

from cpucompat.collect import access


def test_modprobe_comes_from_sbin_not_path(tmp_path, monkeypatch):
    fake = tmp_path / "modprobe"
    fake.write_text("#!/bin/sh\ntouch " + str(tmp_path / "ran") + "\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(access.os.path, "exists", lambda path: False)
    calls = []

    def run(argv, **kwargs):
        calls.append((argv, kwargs.get("env")))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(access, "modprobe_path", lambda: "/sbin/modprobe")
    assert "loaded the msr kernel module" in access.load_msr_module()
    (argv, env), = calls
    assert argv == ["/sbin/modprobe", "msr"] and str(tmp_path) not in env["PATH"]
    assert not (tmp_path / "ran").exists()


def test_modprobe_path_is_one_of_the_system_paths(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert access.modprobe_path() in (*access.MODPROBE_PATHS, None)
    monkeypatch.setattr(access.os, "access", lambda path, mode: False)
    monkeypatch.setattr(access.os.path, "exists", lambda path: False)
    assert "could not run modprobe msr" in access.load_msr_module()
