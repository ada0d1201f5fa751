"""The spine, unlearn → export → quantize → check, as steps the CLI commands call."""
