"""CAPTCHA challenges: made once, solved once, nothing leaks, and creation under AWS faults."""
