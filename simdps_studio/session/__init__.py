"""Qt-free document model: source audio, gaps, non-destructive repairs, undo/redo, project, export."""

from simdps_studio.session.document import Session
from simdps_studio.session.repair import Repair, RepairInfo

__all__ = ["Repair", "RepairInfo", "Session"]
