"""The document index, read side: the store on disk, the embedder, FAISS and BM25 search over them.

Shared by `xnai ingest` (rag/, which writes it) and the handle server (which reads it); imports no service.
"""
