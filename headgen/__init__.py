"""headgen: photos, video and speech to 3D head avatars and talking-head animations.

Importing headgen never needs an optional dependency; features that need one say what to install.
"""
__version__ = "0.1.0"


def talking_head(photo, speech, out="talking_head_out", text=None, size=512, **kwargs):
    """Photo + speech -> the photo talking: runs ``configs/talking_head.yaml`` (pose -> fit -> one-shot avatar
    -> animate -> talking_head) and returns the path of ``OUT/talking_head/talking_head.mp4`` (H.264 + AAC).

    text: the transcript (else transcribed); size: 512 (square portrait crop) or "native" (the photo's size);
    more keywords (frame, sets, quiet, cache, pipeline): :func:`headgen.jobs.talking_head`. Bad input raises
    ``headgen.errors.InputError`` (one line naming the file). Imported lazily: ``import headgen`` stays light.
    """
    from headgen.jobs import talking_head as _talking_head
    return _talking_head(photo, speech, out, text=text, size=size, **kwargs)
