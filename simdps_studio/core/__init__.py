"""Core types, errors and helpers: numpy and the standard library only."""

from simdps_studio.core.errors import (
    CancelledError,
    InputError,
    ModelError,
    NotAvailableError,
    ProjectError,
    SimDPSError,
)
from simdps_studio.core.progress import CancelToken, Progress, null_progress
from simdps_studio.core.types import Audio, Gap

__all__ = [
    "Audio",
    "CancelToken",
    "CancelledError",
    "Gap",
    "InputError",
    "ModelError",
    "NotAvailableError",
    "Progress",
    "ProjectError",
    "SimDPSError",
    "null_progress",
]
