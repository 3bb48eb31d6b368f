# Copyright: cpucompat developers
# MIT License (see the project's pyproject.toml)
"""Controller half of cpucompat_fingerprint: ship the collector, run it, keep the fingerprint.

1. The controller's own cpucompat package (its Python files and its data folder; nothing
   compiled) is zipped once per run into Ansible's local temporary folder (removed with the run) and
   sent to the module inside its arguments (about 300 kB base64; no extra transfer, and with
   pipelining one SSH connection per host), so the managed host runs exactly the controller's
   collector with its own Python and nothing is installed there.
2. The module collects and returns the fingerprint.
3. Here, on the controller: the summary facts (EVC mode, psABI level, QEMU model, class ...)
   come from the controller's cpucompat, and the fingerprint is written to
   ``dest/<inventory_hostname>.json`` atomically (temporary file and rename) when it differs from
   the one there, which is when the task is ``changed``. Check mode writes nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

MODULE = "cpucompat.cpu.cpucompat_fingerprint"
#: Inventory hostnames that can name a file in dest without any escaping.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@+-]*\Z")


def _cpucompat():
    try:
        import cpucompat
        from cpucompat.knowledge.tables import data_dir
        from cpucompat.output import write_text
    except ImportError as error:
        import sys

        raise AnsibleActionFail(
            f"the controller's Python ({sys.executable}) cannot import cpucompat ({error}); install cpucompat "
            "in the environment that runs Ansible (pip install cpucompat)") from None
    return cpucompat, data_dir, write_text


def _replace(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (forks may race: same bytes)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=".cpucompat-", dir=os.path.dirname(path))
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _payload_members(package: Path, data: Path) -> list[tuple[Path, str]]:
    members = [(path, "cpucompat/" + path.relative_to(package).as_posix())
               for path in sorted(package.rglob("*.py")) if "__pycache__" not in path.parts]
    members += [(path, "cpucompat/data/" + path.relative_to(data).as_posix())
                for path in sorted(data.rglob("*")) if path.is_file()]
    return members


def payload_zip(cache_dir: str) -> tuple[str, str]:
    """The collector payload for this controller's cpucompat (built once, named by its content
    hash), and that hash."""
    cpucompat, data_dir, _ = _cpucompat()
    members = _payload_members(Path(cpucompat.__file__).resolve().parent, data_dir())
    digest = hashlib.sha256()
    for path, name in members:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    version = digest.hexdigest()[:16]
    target = os.path.join(cache_dir, f"cpucompat-payload-{version}.zip")
    if not os.path.exists(target):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path, name in members:
                archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), path.read_bytes(), zipfile.ZIP_DEFLATED)
        _replace(target, buffer.getvalue())
    return target, version


def facts(document: dict, version: str, cache_dir: str) -> dict:
    """The summary facts of a fingerprint, cached per (cpucompat payload, fingerprint): Ansible runs
    every host's task in a fresh fork, and the summary needs the feature and baseline tables."""
    findings = sorted((f.get("id"), f.get("status")) for f in document.get("findings") or [])
    key = hashlib.sha256(json.dumps([version, document.get("content_hash"), findings]).encode()).hexdigest()[:32]
    path = os.path.join(cache_dir, f"facts-{key}.json")
    try:
        with open(path, encoding="utf-8") as handle:
            cached = json.load(handle)
        cached["hostname"] = (document.get("host") or {}).get("hostname") or cached.get("hostname")
        return cached
    except (OSError, ValueError):
        pass
    from cpucompat.collect.summary import summarize

    summary = summarize(document).facts()
    _replace(path, json.dumps(summary).encode())
    return summary


def differs(old: dict | None, new: dict) -> bool:
    """A host's fingerprint changed: its raw CPUID (content hash) or its BIOS findings."""
    if old is None:
        return True

    def key(document):
        findings = sorted((f.get("id"), f.get("status")) for f in document.get("findings") or [])
        return document.get("content_hash"), findings

    return key(old) != key(new)


def _previous(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest", "cpus"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        try:
            return self._run(result, task_vars or {})
        except AnsibleActionFail as error:
            result.update(failed=True, msg=str(error))
            return result
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _run(self, result: dict, task_vars: dict) -> dict:
        _, _, write_text = _cpucompat()
        dest = self._task.args.get("dest")
        host = task_vars.get("inventory_hostname", "")
        if dest is not None and not SAFE_NAME.match(host):
            raise AnsibleActionFail(f"inventory hostname {host!r} cannot name a file in dest "
                                    "(letters, digits and _ . : @ + - only)")
        cache_dir = os.path.join(os.path.expanduser(C.DEFAULT_LOCAL_TMP), "cpucompat")
        local, version = payload_zip(cache_dir)
        with open(local, "rb") as handle:  # in the module's arguments: no extra transfer, works pipelined
            args = {"payload": base64.b64encode(handle.read()).decode("ascii")}
        if self._task.args.get("cpus") is not None:
            args["cpus"] = str(self._task.args["cpus"])
        answer = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        result.update(answer)
        if answer.get("failed") or answer.get("unreachable"):
            return result
        document = answer["fingerprint"]
        result["ansible_facts"] = {"cpucompat": facts(document, version, cache_dir)}
        result["changed"] = False
        if dest is not None:
            path = os.path.join(os.path.expanduser(dest), host + ".json")
            previous = _previous(path)
            result.update(dest_file=path, previous_hash=(previous or {}).get("content_hash"))
            if differs(previous, document):
                result["changed"] = True
                if not self._task.check_mode:
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    write_text(path, json.dumps(document, indent=1, sort_keys=True) + "\n", force=True)
        return result
