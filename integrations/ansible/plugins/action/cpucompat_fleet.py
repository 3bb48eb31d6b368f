# Copyright: cpucompat developers
# MIT License (see the project's pyproject.toml)
"""cpucompat_fleet: ``cpucompat fleet --json`` and ``cpucompat baseline --json`` over fingerprints,
on the controller, in one process.

Both commands run through cpucompat's own command line (``cpucompat.cli.app``, the same code and
JSON as the ``cpucompat`` command) inside this task's worker, one after the other: the Python
start-up, the imports (pandas for fleet) and the feature and baseline tables are paid once, not
once per command. Nothing runs on a managed host.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


def run_cli(app, argv: list[str]) -> tuple[int, str, str]:
    """Run one cpucompat command in this process: its exit status, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            app(args=argv, prog_name="cpucompat")
            status = 0
        except SystemExit as stop:
            status = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    return status, out.getvalue(), err.getvalue()


def _app():
    try:
        from cpucompat.cli import app
    except ImportError as error:
        raise AnsibleActionFail(
            f"the controller's Python ({sys.executable}) cannot import cpucompat's command line ({error}); "
            "install cpucompat in the environment that runs Ansible (pip install cpucompat)") from None
    return app


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("files", "cross_vendor"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        files = self._task.args.get("files")
        if not isinstance(files, list) or not files or not all(isinstance(f, str) for f in files):
            result.update(failed=True, msg="files: a non-empty list of fingerprint paths is required")
            return result
        try:
            app = _app()
        except AnsibleActionFail as error:
            result.update(failed=True, msg=str(error))
            return result
        messages = []
        cross = ["--cross-vendor"] if boolean(self._task.args.get("cross_vendor", False), strict=False) else []
        for command, options in (("fleet", []), ("baseline", cross)):
            status, out, err = run_cli(app, [command, "--json", *options, *files])
            messages += [line for line in err.splitlines() if line.strip()]
            if status != 0:
                result.update(failed=True, rc=status, stderr_lines=messages,
                              msg=f"cpucompat {command} exited {status}: " + (err.strip() or out.strip())[-2000:])
                return result
            result[command] = json.loads(out)
        result.update(changed=False, stderr_lines=messages)
        return result
