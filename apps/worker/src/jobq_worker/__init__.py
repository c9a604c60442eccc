"""jobq package."""
