# Copyright: cpucompat developers
# MIT License (see the project's pyproject.toml)
"""Documentation of cpucompat_fleet; the work is done on the controller by its action plugin."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cpucompat_fleet
short_description: Run cpucompat fleet and cpucompat baseline over fingerprints on the controller
version_added: "0.1.0"
description:
  - Runs C(cpucompat fleet --json FILES) and C(cpucompat baseline --json FILES) on the controller,
    one after the other in one process (the task's worker), through cpucompat's own command line,
    and returns both JSON documents.
  - Runs only on the controller (an action plugin); nothing is sent to a managed host.
  - Fails when either command exits non-zero, with that command's error line.
options:
  files:
    description: The fingerprints (or any input C(cpucompat fleet) and C(cpucompat baseline) read).
    type: list
    elements: str
    required: true
  cross_vendor:
    description:
      - Run C(cpucompat baseline --cross-vendor) (the vendor-neutral common ground). Without it a
        mix of Intel and AMD hosts makes C(cpucompat baseline) exit 2, and the task fails saying so.
    type: bool
    default: false
notes:
  - Supports check mode (it only reads).
  - The controller's Python (the one running Ansible) must be able to import cpucompat.
author:
  - cpucompat developers
"""

EXAMPLES = r"""
- name: Fleet and baseline of the fingerprints in /srv/fingerprints
  cpucompat.cpu.cpucompat_fleet:
    files: "{{ query('ansible.builtin.fileglob', '/srv/fingerprints/*.json') }}"
  register: analysis
"""

RETURN = r"""
fleet:
  description: The document of C(cpucompat fleet --json).
  returned: success
  type: dict
baseline:
  description: The document of C(cpucompat baseline --json).
  returned: success
  type: dict
stderr_lines:
  description: What the two commands said on stderr (warnings, notes).
  returned: always
  type: list
  elements: str
"""
