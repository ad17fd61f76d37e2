"""digirec.serving."""
