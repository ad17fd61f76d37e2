"""digirec.models.neural."""
