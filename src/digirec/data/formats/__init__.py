"""digirec.data.formats."""
