"""``talking_head`` stage: an animated head composited back into its photo (or a chosen video frame)."""
