"""The Textual app: `heron` with no sub-command. The loop runs in a thread worker; widgets render its events."""
