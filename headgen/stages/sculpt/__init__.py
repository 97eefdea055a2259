"""``sculpt`` stage: text-guided head sculpting (a text-conditioned diffusion model over head-model
coefficients, trained in-project; optional image score distillation through a local Stable Diffusion)."""
