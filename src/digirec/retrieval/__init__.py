"""digirec.retrieval."""
