"""digirec.training."""
