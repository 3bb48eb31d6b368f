# Copyright: cpucompat developers
# MIT License (see the project's pyproject.toml)
"""Controller half of cpucompat_fingerprint: ship the collector, run it, keep the fingerprint.

1. The part of the controller's own cpucompat package that the collector imports (the modules
   its import statements name, recursively, found by reading them; about 30 of ~90) and the data
   folder, nothing compiled, is zipped once per run into Ansible's local temporary folder
   (removed with the run) and sent to the module inside its arguments (about 140 kB base64; no
   extra transfer, and with pipelining one SSH connection per host), so the managed host runs
   exactly the controller's collector with its own Python and nothing is installed there.
2. The module collects and returns the fingerprint as one JSON string.
3. Here, on the controller: the summary facts (EVC mode, psABI level, QEMU model, class ...)
   come from the controller's cpucompat (once per distinct fingerprint in a run), and the
   fingerprint is written to ``dest/<inventory_hostname>.json`` atomically (temporary file and
   rename) when it differs from the one there, which is when the task is ``changed``. Check mode
   writes nothing. ``return_fingerprint: false`` leaves the fingerprint out of the result.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import fcntl
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
from ansible.module_utils.parsing.convert_bool import boolean
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


#: What the module imports from the shipped package (plugins/modules/cpucompat_fingerprint.py).
ENTRY_MODULES = ("cpucompat.collect.collector", "cpucompat.cpulist", "cpucompat.errors")


def _module_path(package: Path, name: str) -> Path | None:
    """The file of module ``name`` (``cpucompat.a.b``) in ``package``; None when it is not one of its modules."""
    head, _, rest = name.partition(".")
    if head != package.name:
        return None
    base = package.joinpath(*rest.split(".")) if rest else package
    return next((path for path in (base / "__init__.py", base.with_suffix(".py")) if path.is_file()), None)


def _imported(path: Path, name: str) -> set[str]:
    """Every module name an import statement of module ``name`` names, inside functions too
    (``from .x import y`` names ``x`` and ``x.y``: y may be a submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_bytes(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def collector_modules(package: Path) -> dict[str, Path]:
    """The package's modules the collector can import: ENTRY_MODULES, every module their import
    statements name (all of them, whether or not that code path runs), recursively, and the
    packages above each."""
    todo, found = list(ENTRY_MODULES), {}
    while todo:
        name = todo.pop()
        path = None if name in found else _module_path(package, name)
        if path is not None:
            found[name] = path
            parts = name.split(".")
            todo += [".".join(parts[:end]) for end in range(1, len(parts))]
            todo += sorted(_imported(path, name))
    return found


def _payload_members(package: Path, data: Path) -> list[tuple[Path, str]]:
    members = [(path, "cpucompat/" + path.relative_to(package).as_posix())
               for path in sorted(collector_modules(package).values())]
    members += [(path, "cpucompat/data/" + path.relative_to(data).as_posix())
                for path in sorted(data.rglob("*")) if path.is_file()]
    return members


def _source_key(package: Path, data: Path) -> str:
    """Names, sizes and times of the package's files and data: a cheap key for the payload
    built from them (every host's task is a fresh fork and asks again)."""
    digest = hashlib.sha256()
    for path in sorted([*package.rglob("*.py"), *data.rglob("*")]):
        if "__pycache__" not in path.parts:
            stat = path.stat()
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _alone(path: str):
    """Hold ``path``'s lock: the forks of one run share cache_dir, and one builds what the
    others then read instead of all building it at once."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def payload_zip(cache_dir: str) -> tuple[str, str]:
    """The collector payload for this controller's cpucompat (the modules the collector imports
    and the data folder), built once per run, and a key naming that cpucompat."""
    cpucompat, data_dir, _ = _cpucompat()
    package, data = Path(cpucompat.__file__).resolve().parent, data_dir()
    version = _source_key(package, data)
    target = os.path.join(cache_dir, f"cpucompat-payload-{version}.zip")
    if os.path.exists(target):
        return target, version
    with _alone(target + ".lock"):
        if not os.path.exists(target):
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path, name in _payload_members(package, data):
                    archive.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), path.read_bytes(), zipfile.ZIP_DEFLATED)
            _replace(target, buffer.getvalue())
    return target, version


def _read_object(path: str) -> dict | None:
    """The JSON object in ``path``; None when it is missing, unreadable or not an object."""
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def facts(document: dict, version: str, cache_dir: str) -> dict:
    """The summary facts of a fingerprint, cached per (cpucompat payload, fingerprint): Ansible runs
    every host's task in a fresh fork, and the summary needs the feature and baseline tables."""
    findings = sorted((f.get("id"), f.get("status")) for f in document.get("findings") or [])
    key = hashlib.sha256(json.dumps([version, document.get("content_hash"), findings]).encode()).hexdigest()[:32]
    path = os.path.join(cache_dir, f"facts-{key}.json")
    summary = _read_object(path)
    if summary is None:
        with _alone(path + ".lock"):
            summary = _read_object(path)
            if summary is None:
                from cpucompat.collect.summary import summarize

                summary = summarize(document).facts()
                _replace(path, json.dumps(summary).encode())
    summary["hostname"] = (document.get("host") or {}).get("hostname") or summary.get("hostname")
    return summary


def differs(old: dict | None, new: dict) -> bool:
    """A host's fingerprint changed: its raw CPUID (content hash) or its BIOS findings."""
    if old is None:
        return True

    def key(document):
        findings = sorted((f.get("id"), f.get("status")) for f in document.get("findings") or [])
        return document.get("content_hash"), findings

    return key(old) != key(new)


def _fingerprint(text) -> dict:
    """The module's fingerprint: one JSON string, read here with the plain json module (Ansible
    would otherwise read, tag and copy every CPUID row of every CPU as a separate value)."""
    try:
        document = json.loads(text)
    except (TypeError, ValueError) as error:
        raise AnsibleActionFail(f"the cpucompat_fingerprint module returned no fingerprint ({error})") from None
    if not isinstance(document, dict):
        raise AnsibleActionFail("the cpucompat_fingerprint module returned a fingerprint that is not an object")
    return document


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("dest", "cpus", "return_fingerprint"))

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
        returned = boolean(self._task.args.get("return_fingerprint", True), strict=False)
        with open(local, "rb") as handle:  # in the module's arguments: no extra transfer, works pipelined
            args = {"payload": base64.b64encode(handle.read()).decode("ascii"), "return_fingerprint": returned}
        if self._task.args.get("cpus") is not None:
            args["cpus"] = str(self._task.args["cpus"])
        answer = self._execute_module(module_name=MODULE, module_args=args, task_vars=task_vars)
        text = answer.pop("fingerprint_json", None)
        result.update(answer)
        if answer.get("failed") or answer.get("unreachable"):
            return result
        document = _fingerprint(text)
        if returned:
            result["fingerprint"] = document
        result["ansible_facts"] = {"cpucompat": facts(document, version, cache_dir)}
        result["changed"] = False
        if dest is not None:
            path = os.path.join(os.path.expanduser(dest), host + ".json")
            previous = _read_object(path)
            result.update(dest_file=path, previous_hash=(previous or {}).get("content_hash"))
            if differs(previous, document):
                result["changed"] = True
                if not self._task.check_mode:
                    self._write(path, document, write_text)
        return result

    @staticmethod
    def _write(path: str, document: dict, write_text) -> None:
        from cpucompat.errors import CpuCompatError

        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_text(path, json.dumps(document, indent=1, sort_keys=True) + "\n", force=True)
        except (OSError, CpuCompatError) as error:
            raise AnsibleActionFail(f"dest: cannot write {path}: {error}") from None
