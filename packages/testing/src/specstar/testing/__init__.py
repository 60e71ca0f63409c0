"""SpecStar testing."""
