"""The content team's web UI and the REST API (FastAPI, Jinja2 templates, htmx). Entry: pim.web.app:create_app."""
