"""cpucompat: can a VM live-migrate between these x86 servers without losing a CPU feature?

Library entry points: ``read_dump`` (any supported dump or fingerprint file), ``decode``
(named features and levelled fields), ``feature_table`` (the knowledge base).
"""

__version__ = "0.1.0"


def __getattr__(name: str):  # lazy: `import cpucompat` stays cheap for the host agent
    if name == "read_dump":
        from .formats.reader import read_dump

        return read_dump
    if name == "decode":
        from .decode import decode

        return decode
    if name == "feature_table":
        from .knowledge.features import feature_table

        return feature_table
    raise AttributeError(name)
