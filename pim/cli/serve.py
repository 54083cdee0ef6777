"""`pim serve`: the web UI, REST API and customer portal (owned by the web area)."""

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
        """Start the web UI and REST API."""
        import uvicorn

        uvicorn.run("pim.web.app:create_app", factory=True, host=host, port=port)
