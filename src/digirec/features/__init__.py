"""digirec.features."""
