"""The `threshold` stage: nested choice of operating points per fold model."""
