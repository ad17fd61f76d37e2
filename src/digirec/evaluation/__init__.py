"""digirec.evaluation."""
