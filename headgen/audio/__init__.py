"""Speech analysis shared by stages: loudness envelope, features, phone timing (a library, no CLI)."""
