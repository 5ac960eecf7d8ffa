"""The JSON API under /api/v1 (routers, services, auth and permissions); the pages (ui/) use its services,
and web/ assembles both into one app."""
