#!/usr/bin/python
# Copyright: cpucompat developers
# MIT License (see the project's pyproject.toml)
"""Run cpucompat's CPUID collector on the managed host (the remote half of the action plugin)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cpucompat_fingerprint
short_description: Fingerprint a host's CPUID with cpucompat's collector
version_added: "0.1.0"
description:
  - Runs C(cpucompat collect) on the managed host with the managed host's own Python (3.11 or
    later) and returns the fingerprint (format v1) and a summary as facts.
  - Nothing is installed on the managed host. The action plugin of the same name sends the
    modules of the controller's own cpucompat package that the collector imports, and its data
    (no compiled parts), with the module's arguments; they are unpacked into the module's
    temporary folder, used and removed with it.
  - CPUID is read by a small machine-code stub (or the C(cpuid) package when the host's Python
    has it) pinned to each CPU; CPUs outside the process's CPU set through C(/dev/cpu/N/cpuid)
    (root). What cannot be read is said in the fingerprint's C(notes).
  - The fingerprint is written on the controller to O(dest)/INVENTORY_HOSTNAME.json, atomically,
    and only when it differs from the one already there (content hash or BIOS findings); that is
    when the task reports C(changed).
options:
  dest:
    description:
      - Folder on the controller that holds one fingerprint per inventory hostname.
      - Without it nothing is written and C(changed) is always false.
    type: path
  cpus:
    description: Only these logical CPUs, for example C(0,2-3) (C(cpucompat collect --cpus)).
    type: str
  return_fingerprint:
    description:
      - Return the fingerprint in the task's result (RV(fingerprint)).
      - With O(dest) the fingerprint is in the file anyway; V(false) keeps the result small
        (on thousands of hosts, or hosts with many CPUs, Ansible handles every CPUID row of a
        returned fingerprint as a separate value, and a registered result stays in memory).
    type: bool
    default: true
  payload:
    description: Internal; set by the action plugin (the controller's cpucompat package, a base64 zip).
    type: str
    required: true
notes:
  - Supports check mode; the collector only reads, and in check mode nothing is written on the controller.
  - The controller's Python (the one running Ansible) must be able to import cpucompat.
author:
  - cpucompat developers
"""

EXAMPLES = r"""
- name: Fingerprint the host's CPU into ./fingerprints on the controller
  cpucompat.cpu.cpucompat_fingerprint:
    dest: "{{ playbook_dir }}/fingerprints"

- name: Only CPUs 0 and 1
  cpucompat.cpu.cpucompat_fingerprint:
    cpus: "0-1"
"""

RETURN = r"""
fingerprint:
  description: The fingerprint v1 document (see the cpucompat README).
  returned: success, unless O(return_fingerprint=false)
  type: dict
dest_file:
  description: Where the fingerprint is (or, in check mode, would be) on the controller.
  returned: when dest is given
  type: str
previous_hash:
  description: Content hash of the fingerprint that was on the controller before, or null.
  returned: when dest is given
  type: str
ansible_facts:
  description: C(cpucompat) with vendor, family, model, stepping, brand, feature counts, EVC mode,
    psABI level, QEMU model, compatibility class, found BIOS findings and the content hash.
  returned: success
  type: dict
"""

import base64
import io
import json
import sys
import tempfile
import zipfile

from ansible.module_utils.basic import AnsibleModule

MIN_PYTHON = (3, 11)


def unpack(payload, into):
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(payload))) as archive:
        for name in archive.namelist():
            if name.startswith("/") or ".." in name.split("/"):
                raise ValueError("unsafe member %r in the cpucompat payload" % name)
        archive.extractall(into)


def main():
    module = AnsibleModule(
        argument_spec={"dest": {"type": "path"}, "cpus": {"type": "str"},
                       "return_fingerprint": {"type": "bool", "default": True},
                       "payload": {"type": "str", "required": True, "no_log": True}},
        supports_check_mode=True,
    )
    if sys.version_info < MIN_PYTHON:
        module.fail_json(msg="cpucompat's collector needs Python >= %d.%d on the managed host; %s is Python %s "
                             "(set ansible_python_interpreter to a newer one)"
                             % (MIN_PYTHON + (sys.executable, sys.version.split()[0])))
    payload = module.params["payload"]
    where = tempfile.mkdtemp(prefix="cpucompat-", dir=module.tmpdir)
    try:
        unpack(payload, where)
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        module.fail_json(msg="cannot unpack the cpucompat payload (it comes from the "
                             "cpucompat.cpu.cpucompat_fingerprint action plugin): %s" % error)
    sys.path.insert(0, where)
    try:
        from cpucompat.collect.collector import collect
        from cpucompat.cpulist import parse_cpu_list
        from cpucompat.errors import CpuCompatError
    except ImportError as error:
        module.fail_json(msg="the shipped cpucompat collector does not import with %s: %s (missing: %s)"
                             % (sys.executable, error, getattr(error, "name", None) or "?"))
    try:
        cpus = parse_cpu_list(module.params["cpus"], "cpus") if module.params["cpus"] else None
        collection = collect(cpus)
        if not collection.cpus:
            raise CpuCompatError("no CPU could be read: " + "; ".join(collection.notes))
        document = collection.document()
    except CpuCompatError as error:
        module.fail_json(msg="cpucompat collector: %s" % error)
    # One JSON string: the action plugin reads it with plain json; Ansible would read, tag and
    # copy each CPUID row of each CPU as a separate value.
    module.exit_json(changed=False, fingerprint_json=json.dumps(document, sort_keys=True))


if __name__ == "__main__":
    main()
