"""Deployment: the templates, the stage secret, the IAM policy, the inbound stack, the package."""
