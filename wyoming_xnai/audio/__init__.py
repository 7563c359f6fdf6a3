"""Audio shared by every service and the satellite: the one internal format, Silero VAD, the speech
segmenter and wake-word detection. Imports no service."""
