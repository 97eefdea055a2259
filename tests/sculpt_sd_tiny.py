"""Tiny randomly initialised Stable Diffusion pipelines built from configs (no downloads), for the sculpt SDS
tests and bench/sculpt.py. ``build_tiny_sd(dir)`` writes a diffusers folder; ``build_sd15_random(dir)`` the
SD-1.5 architecture with random weights (GPU benchmark)."""
from __future__ import annotations

import json
import string
from pathlib import Path

import torch


def _tokenizer(d: Path):
    from transformers import CLIPTokenizer
    chars = sorted(set(string.ascii_lowercase + string.digits + ",.-'"))
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in chars:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    d.mkdir(parents=True, exist_ok=True)
    (d / "vocab.json").write_text(json.dumps(vocab))
    (d / "merges.txt").write_text("#version: 0.2\n")
    return CLIPTokenizer(str(d / "vocab.json"), str(d / "merges.txt"), model_max_length=16, pad_token="<|endoftext|>")


def build_tiny_sd(path, seed: int = 0) -> Path:
    """Write a tiny random StableDiffusionPipeline (UNet 32/64 channels, 64 px images, 2-layer CLIP text) to path."""
    from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(seed)
    path = Path(path)
    tok = _tokenizer(path / "_tok")
    unet = UNet2DConditionModel(sample_size=32, in_channels=4, out_channels=4, block_out_channels=(32, 64),
                                layers_per_block=1, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=32,
                                attention_head_dim=8)
    vae = AutoencoderKL(in_channels=3, out_channels=3, block_out_channels=(32, 64), latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        sample_size=64)
    te = CLIPTextModel(CLIPTextConfig(vocab_size=len(tok.get_vocab()), hidden_size=32, intermediate_size=37,
                                      num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=16,
                                      bos_token_id=0, eos_token_id=1, pad_token_id=1))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet, scheduler=DDPMScheduler(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(path))
    return path


def build_sd15_random(path, seed: int = 0) -> Path:
    """Write the SD-1.5 architecture (UNet 320..1280, VAE 128..512, CLIP ViT-L text) with random weights."""
    from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    torch.manual_seed(seed)
    path = Path(path)
    tok = _tokenizer(path / "_tok")
    unet = UNet2DConditionModel(sample_size=64, cross_attention_dim=768)
    vae = AutoencoderKL(block_out_channels=(128, 256, 512, 512), layers_per_block=2, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                        sample_size=512)
    te = CLIPTextModel(CLIPTextConfig(vocab_size=max(49408, len(tok.get_vocab())), hidden_size=768,
                                      intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                      max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=te, tokenizer=tok, unet=unet, scheduler=DDPMScheduler(),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.save_pretrained(str(path))
    return path
