"""The web server: `create_app()` builds the FastAPI app (draw-a-digit page + REST API) around a predictor."""

from digitrec.serve.app import DEFAULT_MAX_UPLOAD_BYTES, create_app

__all__ = ["DEFAULT_MAX_UPLOAD_BYTES", "create_app"]
