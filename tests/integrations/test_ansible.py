"""The Ansible collection (integrations/ansible) with ansible-core from PyPI, over real SSH.

The test builds the collection with ``ansible-galaxy collection build``, installs the tarball into
a temporary collections folder, makes one SSH key, starts Debian's ``sshd`` on a free
127.0.0.1 port that accepts only that key, and runs the ``cpucompat.cpu.fingerprint`` playbook
against 22 inventory aliases of 127.0.0.1 reached over SSH (no connection sharing: every task
opens its own SSH connection; pipelining on), a local-connection group of 3, and three hosts made to fail: one
without Python, one whose collector fails (a CPU that is not online), one where nothing listens.
The managed hosts run the collector with Debian's /usr/bin/python3 (no cpucompat, no cpuid
package). ``ansible-lint`` checks the collection.

Skips without ansible-core/ansible-lint in this Python's environment or without
/usr/sbin/sshd (``scripts/setup.sh --test`` installs them); CPUCOMPAT_REQUIRE_ANSIBLE=1 makes
them fail instead.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from ..conftest import REPO, reference

BIN = Path(sys.executable).parent
SSHD = Path("/usr/sbin/sshd")
MANAGED_PYTHON = "/usr/bin/python3"
SSH_HOSTS = [f"ssh{n:02d}" for n in range(1, 23)]
LOCAL_HOSTS = ["local1", "local2", "local3"]
FAILING = {"nopython": "failed: The module interpreter '/nonexistent/python3' was not found",
           "badcpu": "failed: cpucompat collector: --cpus: CPU 4000 not online",
           "nobody-home": "unreachable: Connection refused"}


def need(what: str, ok: bool) -> None:
    if not ok:
        message = f"{what} not available (scripts/setup.sh --test installs it)"
        if os.environ.get("CPUCOMPAT_REQUIRE_ANSIBLE", "") not in ("", "0"):
            pytest.fail(message + ", and CPUCOMPAT_REQUIRE_ANSIBLE is set")
        pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sshd(folder: Path) -> tuple[subprocess.Popen, int, Path]:
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")], check=True)
    shutil.copy(folder / "id_ed25519.pub", folder / "authorized_keys")
    port = free_port()
    (folder / "sshd_config").write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {folder}/host_key
PidFile {folder}/sshd.pid
AuthorizedKeysFile {folder}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
MaxStartups 200
MaxSessions 200
LogLevel INFO
Subsystem sftp /usr/lib/openssh/sftp-server
""")
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation folder
    log = open(folder / "sshd.log", "w")
    server = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(folder / "sshd_config")], stdout=log, stderr=log)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return server, port, key
        if server.poll() is not None:
            break
        time.sleep(0.05)
    server.kill()
    pytest.fail("sshd did not start: " + (folder / "sshd.log").read_text())


def inventory(folder: Path, port: int, key: Path) -> Path:
    common = (f"ansible_host=127.0.0.1 ansible_port={port} ansible_user={os.environ.get('USER') or 'root'} "
              f"ansible_ssh_private_key_file={key}")
    lines = ["[ssh]"] + [f"{h} {common}" for h in SSH_HOSTS]
    lines += [f"nopython {common} ansible_python_interpreter=/nonexistent/python3",
              f"badcpu {common} cpucompat_cpus=4000",
              f"nobody-home ansible_host=127.0.0.1 ansible_port={free_port()}"]
    lines += ["[ssh:vars]", "ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'",
              "[local]"] + LOCAL_HOSTS + ["[local:vars]", "ansible_connection=local",
                                          "[all:vars]", f"ansible_python_interpreter={MANAGED_PYTHON}"]
    path = folder / "inventory.ini"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    need("ansible-core (ansible-playbook)", (BIN / "ansible-playbook").exists())
    need("Debian's openssh-server (/usr/sbin/sshd)", SSHD.exists() and shutil.which("ssh") is not None)
    need(f"{MANAGED_PYTHON} (Python >= 3.11)", Path(MANAGED_PYTHON).exists())
    folder = tmp_path_factory.mktemp("ansible")
    built = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(REPO / "integrations/ansible"),
                            "--output-path", str(folder)], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stdout + built.stderr
    tarball = next(folder.glob("cpucompat-cpu-*.tar.gz"))
    installed = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", "-p", str(folder / "collections"),
                                str(tarball)], capture_output=True, text=True, timeout=120)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    server, port, key = start_sshd(folder)
    env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}", ANSIBLE_COLLECTIONS_PATH=str(folder / "collections"),
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_SSH_ARGS="-o ControlMaster=no", ANSIBLE_PIPELINING="True", ANSIBLE_FORKS="10",
               ANSIBLE_LOCAL_TEMP=str(folder / "ansible-local"), ANSIBLE_REMOTE_TEMP=str(folder / "ansible-remote"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="False")
    yield {"folder": folder, "inventory": inventory(folder, port, key), "env": env, "log": folder / "sshd.log"}
    server.terminate()
    server.wait(timeout=10)


def playbook(rig, dest: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "ansible-playbook"), "-i", str(rig["inventory"]), "cpucompat.cpu.fingerprint",
                           "-e", f"cpucompat_dest={dest}", *extra],
                          capture_output=True, text=True, timeout=600, env=rig["env"])


def recap(output: str) -> dict[str, dict[str, int]]:
    found = {}
    for host, counts in re.findall(r"^(\S+)\s+: (ok=.*)$", output, re.M):
        found[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", counts)}
    return found


@pytest.fixture(scope="module")
def first_run(rig):
    dest = rig["folder"] / "fingerprints"
    done = playbook(rig, dest)
    (rig["folder"] / "first-run.log").write_text(done.stdout + done.stderr)
    return dest, done


def test_playbook_fingerprints_every_host_and_names_the_failing_ones(rig, first_run):
    dest, done = first_run
    output = done.stdout + done.stderr
    assert done.returncode != 0, output  # hosts without a fingerprint fail the run, at its end
    good = SSH_HOSTS + LOCAL_HOSTS
    assert sorted(p.name for p in dest.iterdir()) == sorted(f"{h}.json" for h in good)  # nothing else, no temp file
    listing = output[output.index("hosts without a fingerprint: 3"):]
    for host, reason in FAILING.items():
        kind, _, text = reason.partition(": ")
        line = next((x for x in listing.splitlines() if x.strip().startswith(f'"{host}: {kind}: ')), "")
        assert text in line, (host, listing)
    assert f"hosts fingerprinted: {len(good)}; compatibility classes: 1" in output
    assert "no fingerprint from badcpu, nobody-home, nopython" in output
    counts = recap(output)
    assert all(counts[h]["changed"] == 1 for h in good), counts
    # every SSH alias was reached over its own SSH connection
    accepted = rig["log"].read_text().count("Accepted publickey")
    assert accepted >= len(SSH_HOSTS) + 1, accepted
    # the managed hosts' collector (Debian's python3, no cpuid package) reads what `cpucompat collect` reads
    here = json.loads(subprocess.run([str(BIN / "cpucompat"), "collect"], capture_output=True, text=True,
                                     timeout=60, check=True).stdout)
    hashes = {json.loads((dest / f"{h}.json").read_text())["content_hash"] for h in good}
    assert hashes == {here["content_hash"]}
    baseline = json.loads(subprocess.run([str(BIN / "cpucompat"), "baseline", "--json", *map(str, dest.iterdir())],
                                         capture_output=True, text=True, timeout=60, check=True).stdout)
    assert f"psABI level {baseline['psabi_level']}, QEMU model {baseline['qemu_model']}" in output


def test_changed_only_when_the_fingerprint_differs_and_check_mode_writes_nothing(rig, first_run):
    dest, _ = first_run
    altered = json.loads((dest / "ssh05.json").read_text())
    altered["content_hash"] = "sha256:" + "0" * 64
    (dest / "ssh05.json").write_text(json.dumps(altered))
    (dest / "local2.json").unlink()
    checked = playbook(rig, dest, "--check", "--limit", "ssh01,ssh05,local1,local2,localhost")
    counts = recap(checked.stdout)
    assert {h for h, c in counts.items() if c["changed"]} == {"ssh05", "local2"}, checked.stdout
    assert checked.returncode == 0, checked.stdout + checked.stderr  # local2.json is missing: no analysis, no failure
    assert "fingerprints that would change: ['local2', 'ssh05']" in checked.stdout
    assert json.loads((dest / "ssh05.json").read_text())["content_hash"] == altered["content_hash"]
    assert not (dest / "local2.json").exists()
    again = playbook(rig, dest, "--limit", "ssh,local,localhost,!nopython,!badcpu,!nobody-home")
    counts = recap(again.stdout)
    assert again.returncode == 0, again.stdout + again.stderr
    assert {h for h, c in counts.items() if c["changed"]} == {"ssh05", "local2"}, again.stdout
    assert json.loads((dest / "ssh05.json").read_text())["content_hash"] != altered["content_hash"]
    assert "hosts without a fingerprint: 0" in again.stdout


def test_hosts_are_listed_when_every_host_fails(rig, tmp_path):
    done = playbook(rig, tmp_path / "none", "--limit", "nopython,nobody-home,localhost",
                    "-e", "cpucompat_fail_on_missing=false")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output  # fail_on_missing=false keeps it green, and still lists them
    listing = output[output.index("hosts without a fingerprint: 2"):]
    for host in ("nopython", "nobody-home"):
        kind, _, text = FAILING[host].partition(": ")
        assert any(line.strip().startswith(f'"{host}: {kind}: ') and text in line for line in listing.splitlines()), listing
    assert not (tmp_path / "none").exists() or not any((tmp_path / "none").iterdir())


def old_python() -> str | None:
    """A CPython older than 3.11 that ansible-core can still run modules with (3.8 to 3.10)."""
    found = [shutil.which(f"python3.{minor}") for minor in (10, 9, 8)]
    found += sorted(map(str, Path.home().glob(".pyenv/versions/3.[89]*/bin/python3"))) + \
        sorted(map(str, Path.home().glob(".pyenv/versions/3.10*/bin/python3")))
    return next((path for path in found if path and "/shims/" not in path), None)  # pyenv's shims are scripts


def test_a_managed_python_too_old_is_named(rig):
    python = old_python()
    if python is None:
        pytest.skip("no Python 3.8 to 3.10 here to stand for an old managed host")
    done = subprocess.run([str(BIN / "ansible"), "-i", str(rig["inventory"]), "local1", "-o", "-m",
                           "cpucompat.cpu.cpucompat_fingerprint", "-e", f"ansible_python_interpreter={python}"],
                          capture_output=True, text=True, timeout=300, env=rig["env"])
    assert done.returncode != 0
    assert f"needs Python >= 3.11 on the managed host; {python} is Python 3." in done.stdout, done.stdout + done.stderr


def adhoc(rig, hosts: str, module: str, args: str = "") -> tuple[subprocess.CompletedProcess, dict[str, dict]]:
    done = subprocess.run([str(BIN / "ansible"), "-i", str(rig["inventory"]), hosts, "-o", "-m", module,
                           *(["-a", args] if args else [])], capture_output=True, text=True, timeout=300, env=rig["env"])
    return done, {line.split(" | ")[0]: json.loads(line.split(" => ", 1)[1]) for line in done.stdout.splitlines()
                  if " => " in line}


def test_module_facts_summarise_the_fingerprint(rig):
    done, hosts = adhoc(rig, "ssh01,local1", "cpucompat.cpu.cpucompat_fingerprint")
    assert done.returncode == 0, done.stdout + done.stderr
    for name in ("ssh01", "local1"):
        result = hosts[name]
        facts = result["ansible_facts"]["cpucompat"]
        assert result["changed"] is False  # no dest: nothing compared, nothing written
        assert facts["content_hash"] == result["fingerprint"]["content_hash"]
        assert {"vendor", "family", "model", "evc_mode", "psabi_level", "qemu_model", "class", "findings"} <= set(facts)
        assert facts["psabi_level"].startswith("x86-64")
        assert "fingerprint_json" not in result  # the module's transport, read by the action plugin
    done, quiet = adhoc(rig, "local1", "cpucompat.cpu.cpucompat_fingerprint", "return_fingerprint=false")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "fingerprint" not in quiet["local1"]
    assert quiet["local1"]["ansible_facts"] == hosts["local1"]["ansible_facts"]
    not_a_folder = rig["folder"] / "not-a-folder"
    not_a_folder.write_text("")
    done, failed = adhoc(rig, "local1", "cpucompat.cpu.cpucompat_fingerprint", f"dest={not_a_folder}")
    assert done.returncode != 0
    assert failed["local1"]["msg"].startswith(f"dest: cannot write {not_a_folder}/local1.json: "), failed


def unordered(value):
    """Lists of names as sets (baseline's features_by_group comes in set order, which varies
    between processes with Python's string hashing)."""
    if isinstance(value, dict):
        return {key: unordered(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [unordered(item) for item in value]
        return frozenset(items) if all(isinstance(item, str) for item in items) else items
    return value


def test_fleet_action_runs_both_commands_and_reports_their_errors(rig, first_run):
    dest, _ = first_run
    files = sorted(str(p) for p in dest.iterdir())[:3]
    done, hosts = adhoc(rig, "localhost", "cpucompat.cpu.cpucompat_fleet", json.dumps({"files": files}))
    assert done.returncode == 0, done.stdout + done.stderr
    result = hosts["localhost"]
    direct = {command: json.loads(subprocess.run([str(BIN / "cpucompat"), command, "--json", *files], capture_output=True,
                                                 text=True, timeout=120, check=True).stdout)
              for command in ("fleet", "baseline")}
    assert unordered(result["baseline"]) == unordered(direct["baseline"])
    assert unordered(result["fleet"]["classes"]) == unordered(direct["fleet"]["classes"])
    broken = rig["folder"] / "not-a-fingerprint.json"
    broken.write_text("{}\n")
    done, hosts = adhoc(rig, "localhost", "cpucompat.cpu.cpucompat_fleet", json.dumps({"files": [*files, str(broken)]}))
    assert done.returncode != 0
    assert hosts["localhost"]["msg"].startswith("cpucompat fleet exited "), hosts["localhost"]
    assert "not-a-fingerprint.json" in hosts["localhost"]["msg"], hosts["localhost"]


def test_fleet_action_with_intel_and_amd_hosts_needs_cross_vendor(rig):
    dumps = reference("dumps", "instlatx64")
    files = [str(dumps / "AuthenticAMD0830F10_K17_Rome_CPUID2.txt"), str(dumps / "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt")]
    done, hosts = adhoc(rig, "localhost", "cpucompat.cpu.cpucompat_fleet", json.dumps({"files": files}))
    assert done.returncode != 0
    assert hosts["localhost"]["msg"].startswith("cpucompat baseline exited 2: "), hosts["localhost"]
    assert "different CPU vendors" in hosts["localhost"]["msg"]
    done, hosts = adhoc(rig, "localhost", "cpucompat.cpu.cpucompat_fleet", json.dumps({"files": files, "cross_vendor": True}))
    assert done.returncode == 0, done.stdout + done.stderr
    direct = json.loads(subprocess.run([str(BIN / "cpucompat"), "baseline", "--json", "--cross-vendor", *files],
                                       capture_output=True, text=True, timeout=120, check=True).stdout)
    assert unordered(hosts["localhost"]["baseline"]) == unordered(direct)


def test_payload_holds_what_the_module_imports_and_no_more(tmp_path):
    need("ansible-core", (BIN / "ansible-playbook").exists())
    need(f"{MANAGED_PYTHON} (Python >= 3.11)", Path(MANAGED_PYTHON).exists())
    plugins = REPO / "integrations/ansible/plugins"
    spec = importlib.util.spec_from_file_location("cpucompat_fingerprint_action", plugins / "action/cpucompat_fingerprint.py")
    action = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(action)
    module_tree = ast.parse((plugins / "modules/cpucompat_fingerprint.py").read_text())
    wanted = {node.module for node in ast.walk(module_tree)
              if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cpucompat")}
    assert wanted and wanted <= set(action.ENTRY_MODULES)
    archive, _ = action.payload_zip(str(tmp_path / "cache"))
    with zipfile.ZipFile(archive) as payload:
        names = set(payload.namelist())
        payload.extractall(tmp_path / "unpacked")
    assert "cpucompat/collect/collector.py" in names and "cpucompat/data/cpuid-leaves.csv" in names
    assert "cpucompat/cli.py" not in names and not any(n.startswith("cpucompat/fleet/") for n in names)
    # the managed host's Python, isolated from any installed cpucompat, collects with the payload alone
    done = subprocess.run([MANAGED_PYTHON, "-I", "-c", "import sys; sys.path.insert(0, sys.argv[1]); import json; "
                           "from cpucompat.collect.collector import collect; import cpucompat; "
                           "print(json.dumps([cpucompat.__file__, collect(None).document()['content_hash']]))",
                           str(tmp_path / "unpacked")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    where, content_hash = json.loads(done.stdout)
    assert where.startswith(str(tmp_path / "unpacked"))
    here = json.loads(subprocess.run([str(BIN / "cpucompat"), "collect"], capture_output=True, text=True,
                                     timeout=60, check=True).stdout)
    assert content_hash == here["content_hash"]


def test_ansible_lint_passes_on_the_collection(tmp_path):
    need("ansible-lint", (BIN / "ansible-lint").exists())
    where = tmp_path / "ansible_collections" / "cpucompat" / "cpu"
    shutil.copytree(REPO / "integrations/ansible", where)
    done = subprocess.run([str(BIN / "ansible-lint"), "--offline", "--nocolor"], cwd=where, capture_output=True,
                          text=True, timeout=300,
                          env=dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}",
                                   ANSIBLE_COLLECTIONS_PATH=str(tmp_path), HOME=str(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Passed" in done.stdout + done.stderr
