"""The print cell: a Marlin printer streams the step's job file."""

from stations.kind import CellKind

KIND = CellKind(
    "print", drivers=("marlin", "line", "none"), streams_job=True, labels_before_qa="units"
)
