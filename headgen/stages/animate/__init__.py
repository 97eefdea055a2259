"""Audio-driven facial animation: speech -> ARKit, jaw, blink, gaze and head-motion curves (the animate stage)."""
