"""Bytes fetched per clip from a remote long video, over HTTP (Range) and S3 (moto), on loopback.

Usage: python benchmarks/bench_remote_bytes.py [--frames 3000]
Prints a Markdown table: for each server and block size, the bytes fetched to index the file, to read
one window of 16 consecutive frames (VideoTimeseriesGenerator), and one clip of 8 frames spread over
the whole video (VideoFrameGenerator's uniform sampling), each with its share of the file.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests"))


def measure(url: str, size: int, frames: int) -> list[str]:
    from gpuvideo import VideoTimeseriesGenerator, remote
    from gpuvideo.decode import Request
    from gpuvideo.decode.pyav_decoder import PyAVDecoder
    from gpuvideo.probe import probe
    from gpuvideo.sampling import clip_indices

    remote.stats(reset=True)
    info = probe(url)
    indexed = remote.stats(reset=True)["bytes_fetched"]
    gen = VideoTimeseriesGenerator(info, length=16, batch_size=1, start_index=int(frames * 2 / 3),
                                   target_shape=(112, 112), index_cache=None, prefetch=0)   # one window, none ahead
    gen[0]
    window = remote.stats(reset=True)["bytes_fetched"]
    dec = PyAVDecoder((112, 112))
    out = dec.decode([Request(info, clip_indices(info.frame_count, 8, "uniform"))])[0]
    assert not isinstance(out, Exception), out
    dec.close()
    spread = remote.stats(reset=True)["bytes_fetched"]
    return [f"{n / 1024:.0f} KiB ({100 * n / size:.1f}%)" for n in (indexed, window, spread)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=3000)
    args = ap.parse_args()
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)      # moto's request log
    from remote_servers import http_server, s3_server

    from gpuvideo import remote
    from gpuvideo.synthetic import textured_frames, write_video

    root = tempfile.mkdtemp(prefix="gpuvideo-remote-")
    path = os.path.join(root, "long.mp4")
    write_video(path, textured_frames(args.frames, 320, 240))
    size = os.path.getsize(path)
    print(f"{args.frames} frames, 320x240 H.264, {size / 1e6:.2f} MB\n")
    print("| server | block size | index (once) | 16-frame window | 8 frames spread over the video |")
    print("|---|---:|---:|---:|---:|")
    with http_server(root) as http, s3_server() as endpoint:
        import boto3

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s",
                     region_name="us-east-1").create_bucket(Bucket="videos")
        remote.configure(storage_options={"s3": {"endpoint_url": endpoint, "key": "k", "secret": "s",
                                                 "client_kwargs": {"region_name": "us-east-1"}}})
        fs, _ = remote._fs("s3://videos")
        fs.put(path, "videos/long.mp4")
        for name, url in (("HTTP", http.url + "/long.mp4"), ("S3 (moto)", "s3://videos/long.mp4")):
            for block in (32 * 1024, 64 * 1024, 256 * 1024):
                remote.configure(block_size=block)
                print(f"| {name} | {block // 1024} KiB | " + " | ".join(measure(url, size, args.frames)) + " |")


if __name__ == "__main__":
    main()
