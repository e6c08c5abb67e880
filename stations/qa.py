"""The QA cell: no machine; the QA flow samples and judges each batch (ISO 2859-1)."""

from stations.kind import CellKind

KIND = CellKind("qa", drivers=("none",), streams_job=False, labels_before_qa="batch", inspects=True)
