"""SpecStar core."""
