"""The forgetting check: does each variant still know each fact, and what did quantization bring back?"""
