"""The adapter keeps every exception it defines in one module, ``specstar.fastapi.errors``."""

import importlib
import pkgutil

import specstar.fastapi
from specstar.fastapi import errors


def test_every_adapter_exception_lives_in_the_errors_module() -> None:
    misplaced: list[str] = []
    for info in pkgutil.walk_packages(specstar.fastapi.__path__, "specstar.fastapi."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == info.name
                and info.name != errors.__name__
            ):
                misplaced.append(f"{info.name}.{name}")
    assert misplaced == []


def test_old_import_locations_still_work() -> None:
    from specstar.fastapi.problems import BadRequestError, UnsupportedMediaTypeError
    from specstar.fastapi.routes.create import ExistsPreconditionError

    assert BadRequestError is errors.BadRequestError
    assert UnsupportedMediaTypeError is errors.UnsupportedMediaTypeError
    assert ExistsPreconditionError is errors.ExistsPreconditionError
