"""The vocabularies a feature name can be written in: cpucompat's own (``canonical``) and one per
``<vocabulary>_name`` column of ``data/features.csv``. The one home of the list: the feature
table (``knowledge/features.py``) and the CLI's ``--names`` choices read it, and a test checks it
against the CSV header. Import-light: the CLI imports it on every command, ``collect`` included.
"""

VOCABULARIES = ("canonical", "linux", "qemu", "libvirt", "vmware", "xen", "nfd")
