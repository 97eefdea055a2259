"""headgen: photos, video and speech to 3D head avatars and talking-head animations.

Importing headgen never needs an optional dependency; features that need one say what to install.
"""
__version__ = "0.1.0"
