"""Model sources: the embedded default, GGUF files and HF / mlx-lm folders, all resolved to one layout."""
