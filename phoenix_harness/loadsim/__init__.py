"""Layer 5, loadsim: load drivers and the ground truth of what they generated."""

from phoenix_harness.loadsim.groundtruth import GroundTruth, ProcessRecord
from phoenix_harness.loadsim.processes import ProcessesDriver, worker_binary

__all__ = ["GroundTruth", "ProcessRecord", "ProcessesDriver", "worker_binary"]
