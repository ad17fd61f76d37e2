"""``python -m digirec.cli``."""

from digirec.cli import main

main()
