"""digirec.data."""
