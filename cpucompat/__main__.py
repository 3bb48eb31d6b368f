"""``python -m cpucompat``."""

from .cli import main

main()
