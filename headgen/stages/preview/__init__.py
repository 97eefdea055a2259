"""``preview`` stage: a talking-head preview of a fitted head (textured from the photo, speech muxed)."""
