"""CUDA sources of gpuvideo's GPU kernels (``*.cu``), installed as ``gpuvideo.kernels``."""
