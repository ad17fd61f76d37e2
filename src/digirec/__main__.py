"""``python -m digirec`` (what ``torchrun ... -m digirec train ...`` runs on every rank)."""

from digirec.cli import main

main()
