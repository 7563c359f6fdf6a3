"""Retrieval over the user's own documents: parse, chunk, embed, index (FAISS + BM25), search."""
