"""jobq-api: the HTTP API, WebSocket events and signed webhooks of jobq.

``create_app(settings)`` builds the FastAPI application; ``jobq api`` serves it.
"""

from importlib.metadata import version as _version

__version__ = _version("jobq-api")

from jobq_api.app import create_app

__all__ = ["__version__", "create_app"]
