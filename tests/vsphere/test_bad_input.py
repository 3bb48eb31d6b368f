"""Bad input to `vsphere collect`: one clear error line, exit 2, nothing written."""

from __future__ import annotations

import json
import shutil
import socket

import pytest
from typer.testing import CliRunner

from cpucompat.cli import app
from tests.conftest import reference

runner = CliRunner()


def fails(tmp_path, *args, expect: str, env=None):
    out = tmp_path / "out"
    result = runner.invoke(app, ["vsphere", "collect", *args, "-o", str(out)], env=env)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expect in lines[0], lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.cpucompat-tmp-*"))
    assert result.stdout == ""
    return lines[0]


def test_wrong_password(make_vcsim, env, tmp_path):
    sim = make_vcsim()
    env.setenv("CPUCOMPAT_VSPHERE_PASSWORD", "not-the-password")
    line = fails(tmp_path, "--server", sim.server, expect="wrong user name or password")
    assert "not-the-password" not in line


def test_password_never_on_the_command_line(tmp_path):
    result = runner.invoke(app, ["vsphere", "collect", "--server", "127.0.0.1", "--password", "x"])
    assert result.exit_code == 2


def test_no_password_without_a_terminal(env, tmp_path):
    env.delenv("CPUCOMPAT_VSPHERE_PASSWORD")
    fails(tmp_path, "--server", "http://127.0.0.1:9", expect="CPUCOMPAT_VSPHERE_PASSWORD")


def test_password_file(make_vcsim, env, tmp_path):
    sim = make_vcsim()
    env.delenv("CPUCOMPAT_VSPHERE_PASSWORD")
    secret = tmp_path / "secret"
    secret.write_text("pass\n")
    result = runner.invoke(app, ["vsphere", "collect", "--server", sim.server, "--password-file", str(secret),
                                 "-o", str(tmp_path / "ok")])
    assert result.exit_code == 0, result.output
    assert "pass" not in "".join(p.read_text() for p in (tmp_path / "ok").rglob("*.json")).replace("passthrough", "")


def test_unreachable_server(env, tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fails(tmp_path, "--server", f"http://127.0.0.1:{port}", expect="cannot reach the server")
    fails(tmp_path, "--server", f"https://127.0.0.1:{port}", expect="cannot reach the server")


def test_plain_http_only_to_loopback(env, tmp_path):
    fails(tmp_path, "--server", "http://vcenter.example.com", expect="plain http is only allowed")


def test_untrusted_certificate(make_vcsim, env, tmp_path):
    cert = tmp_path / "vcsim.pem"
    sim = make_vcsim("-tls", "-cert-out", str(cert))
    assert sim.server.startswith("https://127.0.0.1:")
    line = fails(tmp_path, "--server", sim.server, expect="TLS certificate not trusted")
    assert "--ca-file" in line and "--insecure" in line
    for extra in (["--ca-file", str(cert)], ["--insecure"]):
        out = tmp_path / ("trusted" if extra[0] == "--ca-file" else "insecure")
        result = runner.invoke(app, ["vsphere", "collect", "--server", sim.server, *extra, "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert list((out / "hosts").glob("*.json"))


def _save_copy(tmp_path):
    folder = tmp_path / "save"
    folder.mkdir()
    for path in reference("vsphere", "govc-sddc").glob("*.xml"):
        if "HostSystem" in path.name or "ClusterComputeResource" in path.name or "Datastore-" in path.name:
            shutil.copy(path, folder / path.name)
    return folder


@pytest.mark.parametrize("damage, expect", [
    ("<ObjectContent><obj type=\"VirtualMachine\">vm-1</obj><propSet><name>name", "broken XML"),
    ("<Something/>", "not a govc object.save file"),
    ("<ObjectContent><obj type=\"VirtualMachine\">vm-1</obj><propSet><val>x</val></propSet></ObjectContent>",
     "without <name>"),
    ("<ObjectContent><obj type=\"no such/type\">vm-1</obj></ObjectContent>", "unknown object"),
    ('<!DOCTYPE x [<!ENTITY a "aaaa">]><ObjectContent><obj type="VirtualMachine">&a;</obj></ObjectContent>',
     "DOCTYPE"),
])
def test_broken_save_folder(tmp_path, damage, expect):
    folder = _save_copy(tmp_path)
    (folder / "9999-VirtualMachine-vm-1.xml").write_text(damage)
    line = fails(tmp_path, "--from-save", str(folder), expect=expect)
    assert "9999-VirtualMachine-vm-1.xml" in line


def test_save_folder_without_hosts(tmp_path):
    folder = tmp_path / "save"
    folder.mkdir()
    (folder / "a.xml").write_text('<ObjectContent><obj type="Folder">group-d1</obj></ObjectContent>')
    fails(tmp_path, "--from-save", str(folder), expect="no HostSystem")
    fails(tmp_path, "--from-save", str(tmp_path / "missing"), expect="not a folder")


def test_one_source_only(tmp_path):
    fails(tmp_path, expect="exactly one of")


def test_existing_output_kept_without_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").write_text("mine")
    save = str(reference("vsphere", "govc-sddc"))
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", save, "-o", str(out)])
    assert result.exit_code == 2 and "--force" in result.stderr
    assert [p.name for p in out.iterdir()] == ["keep"]
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", save, "-o", str(out), "--force"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["hosts", "vms"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]


@pytest.mark.parametrize("change, expect", [
    ({"version": None}, "version None is not supported"),
    ({"moid": None}, "without 'moid'"),
    ({"datastores": []}, "field 'datastores' is not a JSON object"),
    ({"datastores": {"ds": "full"}}, "field 'datastores': expected JSON objects"),
    ({"vmotion_vnics": "vmk0"}, "field 'vmotion_vnics' is not a JSON array"),
])
def test_vmotion_check_on_a_damaged_records_folder(tmp_path, change, expect):
    """A hand-edited host record in a `collect -o` folder: one error line naming the file, exit 2."""
    out = tmp_path / "records"
    result = runner.invoke(app, ["vsphere", "collect", "--from-save", str(reference("vsphere", "govc-sddc")), "-o", str(out)])
    assert result.exit_code == 0, result.output
    host = out / "hosts" / "10.2.32.4.json"
    twin = {**json.loads(host.read_text()), "name": "twin", "moid": "host-2", **change}
    (out / "hosts" / "twin.json").write_text(json.dumps(twin))
    result = runner.invoke(app, ["vmotion", "check", "--records", str(out), "--json"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "twin.json" in lines[0] and expect in lines[0], lines
    assert result.stdout == ""


def test_password_from_the_prompt(make_vcsim, tmp_path):
    """On a terminal, without the variable or a file, the password is asked for (not echoed), and
    the collection runs; the prompt names user and server."""
    import os
    import pty
    import sys
    import time

    sim = make_vcsim()
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "CPUCOMPAT_VSPHERE_PASSWORD"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        os.execve(sys.executable, [sys.executable, "-m", "cpucompat", "vsphere", "collect", "--server", sim.server,
                                   "--user", "user", "-o", str(out)], env)
    seen, deadline = b"", time.monotonic() + 120
    while b"password for user@127.0.0.1" not in seen and time.monotonic() < deadline:
        seen += os.read(fd, 1024)
    os.write(fd, b"pass\n")
    try:
        while time.monotonic() < deadline:
            chunk = os.read(fd, 1024)
            if not chunk:
                break
            seen += chunk
    except OSError:  # EIO: the child closed the terminal
        pass
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, seen
    assert b"pass\r\n" not in seen.split(b"password for", 1)[1]  # not echoed
    assert list((out / "hosts").glob("*.json"))


def test_vcenter_gone_during_the_retrieval_is_one_error(make_vcsim, env):
    """A vCenter that drops the connection after login (killed, reset, a cut-off answer) gives a
    VSphereError naming the call, which the CLI prints as one line, not a traceback."""
    from cpucompat.vsphere.collect import retrieve
    from cpucompat.vsphere.connect import VSphereError, session

    sim = make_vcsim()
    with session(sim.server, None, None, False, None) as (_, si):
        sim.process.kill()
        sim.process.wait()
        with pytest.raises(VSphereError, match="vCenter stopped answering during the retrieval"):
            retrieve(si)
