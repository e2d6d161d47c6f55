"""borgerdialog's Chalice app: builds the app and registers the blueprints, nothing else."""

from __future__ import annotations

from chalice.app import Chalice

from chalicelib.api.articles import bp as articles_bp
from chalicelib.api.captcha import bp as captcha_bp
from chalicelib.api.digest import bp as digest_bp
from chalicelib.api.docs import bp as docs_bp
from chalicelib.api.guard import guard_routes
from chalicelib.api.site import bp as site_bp
from chalicelib.api.subscription_pages import bp as subscription_pages_bp
from chalicelib.api.subscriptions import bp as subscriptions_bp
from chalicelib.config import get_settings
from chalicelib.logs import configure as configure_logs

app = Chalice(app_name="borgerdialog")
# Chalice's app.log defaults to ERROR; the stage decides how much we hear, and in what form.
configure_logs(app.log, get_settings().log_level, json_lines=get_settings().log_format == "json")

app.register_blueprint(articles_bp)
app.register_blueprint(captcha_bp)
app.register_blueprint(docs_bp)
app.register_blueprint(site_bp)
app.register_blueprint(digest_bp)
app.register_blueprint(subscriptions_bp)
app.register_blueprint(subscription_pages_bp)

# Last: every route registered above answers AWS throttling with 503 + Retry-After, never a 500.
guard_routes(app)
