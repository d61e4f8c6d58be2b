"""MLflow's error model: an ``error_code`` name, a message and the HTTP status it travels with.

MlflowError
 ├── not_found        RESOURCE_DOES_NOT_EXIST, 404
 ├── already_exists   RESOURCE_ALREADY_EXISTS, 400
 └── invalid          INVALID_PARAMETER_VALUE, 400

The body is the JSON MLflow's clients parse: ``{"error_code": ..., "message": ...}``.
"""

from __future__ import annotations

STATUS_BY_CODE = {
    "RESOURCE_DOES_NOT_EXIST": 404,
    "RESOURCE_ALREADY_EXISTS": 400,
    "INVALID_PARAMETER_VALUE": 400,
    "INVALID_STATE": 400,
    "BAD_REQUEST": 400,
    "ENDPOINT_NOT_FOUND": 404,
    "TEMPORARILY_UNAVAILABLE": 503,
    "INTERNAL_ERROR": 500,
}


class MlflowError(Exception):
    """An error answered in MLflow's shape.

    Args:
        message: what went wrong, for a person.
        error_code: one of MLflow's ``ErrorCode`` names.
    """

    def __init__(self, message: str, error_code: str = "INVALID_PARAMETER_VALUE") -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code

    @property
    def status(self) -> int:
        return STATUS_BY_CODE.get(self.error_code, 400)

    def body(self) -> dict[str, str]:
        return {"error_code": self.error_code, "message": self.message}

    @classmethod
    def not_found(cls, message: str) -> MlflowError:
        return cls(message, "RESOURCE_DOES_NOT_EXIST")

    @classmethod
    def already_exists(cls, message: str) -> MlflowError:
        return cls(message, "RESOURCE_ALREADY_EXISTS")

    @classmethod
    def invalid(cls, message: str) -> MlflowError:
        return cls(message, "INVALID_PARAMETER_VALUE")
