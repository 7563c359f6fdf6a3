"""The handle service: short spoken answers from the household's documents and a local LLM."""
