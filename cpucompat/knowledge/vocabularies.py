"""The vocabularies a feature name can be written in: cpucompat's own (``canonical``) and one per
``<vocabulary>_name`` column of ``data/features.csv``, read from that file's header. Adding a
vocabulary is adding the column: the feature table (``knowledge/features.py``), ``Feature.names``
and the CLI's ``--names`` choices follow. Import-light: the CLI imports it on every command,
``collect`` included, so only the header line is read.
"""

from __future__ import annotations

from .tables import header

VOCABULARIES = ("canonical", *(column.removesuffix("_name") for column in header("features.csv")
                               if column.endswith("_name")))
