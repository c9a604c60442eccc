"""jobq-monitor: the live web dashboard of jobq (``jobq monitor``, ``jobq up``)."""

from importlib.metadata import version as _version

__version__ = _version("jobq-monitor")

from jobq_monitor.app import create_app
from jobq_monitor.settings import MonitorSettings

__all__ = ["MonitorSettings", "__version__", "create_app"]
