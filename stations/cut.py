"""The cut cell: a GRBL cutter (laser or router) streams the step's job file."""

from stations.kind import CellKind

KIND = CellKind("cut", drivers=("grbl", "line", "none"), streams_job=True, labels_before_qa="units")
