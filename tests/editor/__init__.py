"""The editor's publishing of Markdown from content/, and publishing under AWS faults."""
