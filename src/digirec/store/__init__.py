"""digirec.store."""
