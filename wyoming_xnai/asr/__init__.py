"""Speech-to-text: the Wyoming `asr` service on faster-whisper."""
