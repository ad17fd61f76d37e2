"""digirec.models."""
