"""The web application: assembles the JSON API (api/) and the Chinese pages (ui/) into one FastAPI app.
The only package that imports both; api/ never imports ui/."""
