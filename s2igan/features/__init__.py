"""Image features: frozen ImageNet backbones and the per-split feature cache (Sec. III-B)."""
