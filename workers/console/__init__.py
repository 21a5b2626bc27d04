"""The operator console at /ui: server-rendered pages (Jinja2, htmx) over the same functions as the CLI and API.

router: the /ui routes, static files, security headers and error pages; `install(app)` adds them to `medic serve`.
web: templates, the logged-in user (viewer), the POST guard with CSRF (operator), render, flashes (done).
sessions: the signed session cookie, keyed by a hash of the API token it was opened with.
login: /ui/login and /ui/logout.
headers: Content-Security-Policy and the other security headers on /ui (an ASGI middleware).
formatting: times, durations, counts, sizes, state colours, sparklines and chart lines (pure; Jinja filters).
overview: /ui, health, error rates of the last 24 hours, alerts, breakers, queues, last runs and backup.
alerts: /ui/alerts, and acknowledging one.
maintenance: /ui/maintenance, jobs with their last run, and past runs (read-only).
backups: /ui/backups, the registered archives (read-only).
pages/: the pages on error groups, executions, dead letters and breakers.

templates/ holds the Jinja templates (base.html, _macros.html, one per page and its live fragment);
static/ the stylesheet, console.js and the vendored htmx and Swagger UI (with their licences).
"""
