"""Model cards built from tracked runs: Markdown, HTML and JSON."""
