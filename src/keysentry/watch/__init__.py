"""Watchers: public places polled for new content, which is scanned as it appears."""
