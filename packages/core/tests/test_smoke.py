def test_import() -> None:
    import specstar.core  # noqa: F401
