"""The static site: rendering, hostile input, security headers, the browser, and the API's own
signup page."""
