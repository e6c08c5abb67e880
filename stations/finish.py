"""The finish cell: a line-protocol machine counts its own cycles."""

from stations.kind import CellKind

KIND = CellKind("finish", drivers=("line", "none"), streams_job=False, labels_before_qa="units")
