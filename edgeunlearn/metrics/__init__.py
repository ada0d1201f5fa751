"""Evaluation metrics as the papers define them, as pure functions over answers and scores."""
