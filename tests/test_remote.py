"""Videos in object storage: HTTP (Range) and S3 (moto) servers on loopback, range reads that fetch a small
fraction of a long video per clip, the index cache keyed by ETag, retries, and failures reported as bad input."""
import os
import shutil
import sys
import time

import numpy as np
import pytest

from gpuvideo import VideoFrameGenerator, VideoTimeseriesGenerator, remote
from gpuvideo.probe import ProbeCache, index_videos, probe

sys.path.insert(0, os.path.dirname(__file__))
from remote_servers import http_server, s3_server  # noqa: E402

LONG_FRAMES = 3000


@pytest.fixture(scope="module")
def store(tmp_path_factory, action_dataset):
    """A folder with ``actions/{classname}/...`` (copied from action_dataset) and ``long.mp4`` (3,000 frames,
    320x240 H.264, a keyframe every 24 frames)."""
    from gpuvideo.synthetic import textured_frames, write_video

    root = tmp_path_factory.mktemp("store")
    shutil.copytree(os.path.dirname(os.path.dirname(action_dataset)), root / "actions")
    write_video(root / "long.mp4", textured_frames(LONG_FRAMES, 320, 240))
    write_video(root / "mpeg4.mp4", textured_frames(2400, 320, 240), codec="mpeg4_bframes")
    write_video(root / "long.webm", textured_frames(300, 320, 240), codec="vp9")
    return root


@pytest.fixture
def settings():
    """Short timeouts and backoff for the tests; the defaults come back afterwards."""
    saved = remote.options()
    remote.configure(timeout=2.0, retries=2, backoff=0.05, block_size=32 * 1024, max_blocks=8)
    remote.stats(reset=True)
    yield
    remote.configure(**{f: getattr(saved, f) for f in saved.__dataclass_fields__})


@pytest.fixture(scope="module")
def http(store):
    with http_server(str(store)) as server:
        yield server


def _kw(**extra):
    kw = dict(nb_frames=3, batch_size=4, target_shape=(32, 24), seed=0, shuffle=False, index_cache=None,
              progress=False)
    kw.update(extra)
    return kw


def _window(video, start):
    return VideoTimeseriesGenerator(video, length=16, batch_size=1, start_index=start, target_shape=(64, 48),
                                    index_cache=None, prefetch=0)          # one window read, none ahead


def test_http_glob_classes_and_batches_equal_local(http, store, settings):
    http.reset()
    local = VideoFrameGenerator(glob_pattern=str(store / "actions" / "{classname}" / "*.*"), **_kw())
    web = VideoFrameGenerator(glob_pattern=http.url + "/actions/{classname}/*.*", **_kw())
    assert web.classes == local.classes and len(web.samples) == len(local.samples)
    assert all(s.path.startswith(http.url + "/actions/") for s in web.samples)
    for i in range(len(web)):
        for a, b in zip(web[i], local[i]):
            np.testing.assert_array_equal(a, b)
    assert len(web.bad_files) == 0
    assert http.bytes_sent == remote.stats()["bytes_fetched"] > 0     # what the server sent was counted


def test_one_window_of_a_long_video_fetches_a_small_fraction(http, store, settings):
    url = http.url + "/long.mp4"
    size = os.path.getsize(store / "long.mp4")
    info = probe(url)
    assert info.pts == probe(str(store / "long.mp4")).pts and info.frame_count == LONG_FRAMES
    gen = _window(info, 2000)
    remote.stats(reset=True)
    http.reset()
    x = gen[0]
    fetched = remote.stats()["bytes_fetched"]
    assert fetched == http.bytes_sent
    assert fetched < 0.10 * size, (fetched, size)       # measured: 7 blocks of 32 KiB of 2.9 MB (7.7%)
    np.testing.assert_array_equal(x, _window(str(store / "long.mp4"), 2000)[0])


@pytest.mark.parametrize("name,most", [("long.mp4", 0.3), ("mpeg4.mp4", 0.5), ("long.webm", 1.0)])
def test_index_reads_an_mp4s_moov_not_its_media(http, store, settings, name, most):
    """MP4: the index pass fetches the moov box and the first 512 KiB of media, and finds exactly what a
    full demux finds (keyframes from stss); other containers (WebM) are read in full."""
    from dataclasses import asdict

    remote.stats(reset=True)
    got = probe(f"{http.url}/{name}")
    fetched = remote.stats()["bytes_fetched"]
    size = os.path.getsize(store / name)
    ref = asdict(probe(str(store / name)))
    assert {k: v for k, v in asdict(got).items() if k != "path"} == {k: v for k, v in ref.items() if k != "path"}
    assert len(got.keyframes) > 5
    assert fetched <= most * size if most < 1 else fetched >= size, (fetched, size)


def test_index_cache_is_keyed_by_the_store_etag(http, store, settings, tmp_path):
    url = http.url + "/long.mp4"
    stamp = remote.stamp(url)
    assert stamp[0] == os.path.getsize(store / "long.mp4") and stamp[1].startswith('"')
    cache = ProbeCache(tmp_path / "index.json")
    index_videos([url], cache, progress=False)
    remote.stats(reset=True)
    again = index_videos([url], ProbeCache(tmp_path / "index.json"), progress=False)[url]
    assert again.frame_count == LONG_FRAMES and remote.stats()["bytes_fetched"] == 0   # not reopened
    copy = store / "copy.mp4"
    shutil.copy(store / "long.mp4", copy)
    index_videos([http.url + "/copy.mp4"], cache, progress=False)
    os.utime(copy, ns=(1, 1))                           # same bytes, new mtime: the server's ETag changes
    remote.stats(reset=True)
    index_videos([http.url + "/copy.mp4"], ProbeCache(tmp_path / "index.json"), progress=False)
    assert remote.stats()["bytes_fetched"] > 0          # probed again


def test_dropped_connections_are_retried(http, store, settings):
    http.reset()
    http.drop = 2                                       # the next two range requests get no reply
    x = _window(http.url + "/long.mp4", 200)[0]
    np.testing.assert_array_equal(x, _window(str(store / "long.mp4"), 200)[0])
    # both drops happened; aiohttp may retry one itself (a closed keep-alive connection), gpuvideo the rest
    assert http.drop == 0 and remote.stats()["retries"] >= 1 and remote.stats()["failed_files"] == 0


def test_a_stalled_file_becomes_bad_input_in_bounded_time(http, store, settings):
    http.reset()
    remote.configure(timeout=0.5, retries=1)
    stalled = "/actions/up/" + sorted(os.listdir(store / "actions" / "up"))[0]
    http.faults[stalled] = "stall"
    t0 = time.monotonic()
    gen = VideoFrameGenerator(glob_pattern=http.url + "/actions/{classname}/*.*", **_kw())
    x, y = gen[0]
    assert time.monotonic() - t0 < 30
    assert http.url + stalled in gen.bad_files
    bad = {b.path: b for b in gen.bad_files.items()}[http.url + stalled]
    assert bad.stage == "index" and "failed after 2 tries" in bad.reason
    assert x.shape == (4, 3, 24, 32, 3) and remote.stats()["failed_files"] >= 1


def test_connections_dropped_while_decoding_make_a_bad_file_replaced(http, store, settings):
    http.reset()
    gen = VideoFrameGenerator(glob_pattern=http.url + "/actions/{classname}/*.*", **_kw(batch_size=40))
    victim = gen.samples[5].path
    http.faults[victim[len(http.url):]] = "drop"
    x, y = gen[0]
    bad = {b.path: b for b in gen.bad_files.items()}[victim]
    assert bad.stage == "decode" and "failed after 3 tries" in bad.reason
    assert x.shape[0] == 40 and y[5].argmax() == gen.classes.index(gen.batch_info(0)[5].label)


def test_s3_through_moto(store, settings):
    pytest.importorskip("s3fs")
    import fsspec

    with s3_server() as endpoint:
        remote.configure(storage_options={"s3": {"endpoint_url": endpoint, "key": "test", "secret": "test",
                                                 "client_kwargs": {"region_name": "us-east-1"}}})
        import boto3    # installed with moto

        boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                     region_name="us-east-1").create_bucket(Bucket="videos")
        fs, _ = remote._fs("s3://videos")
        fs.put(str(store / "actions"), "videos/actions", recursive=True)
        fs.put(str(store / "long.mp4"), "videos/long.mp4")
        fsspec.filesystem("s3").invalidate_cache()
        local = VideoFrameGenerator(glob_pattern=str(store / "actions" / "{classname}" / "*.*"), **_kw())
        s3 = VideoFrameGenerator(glob_pattern="s3://videos/actions/{classname}/*.*", **_kw())
        assert s3.classes == local.classes and s3.samples[0].path.startswith("s3://videos/actions/")
        for a, b in zip(s3[1], local[1]):
            np.testing.assert_array_equal(a, b)
        size, etag = remote.stamp("s3://videos/long.mp4")
        assert size == os.path.getsize(store / "long.mp4") and etag
        gen = _window(probe("s3://videos/long.mp4"), 2000)
        remote.stats(reset=True)
        x = gen[0]
        assert remote.stats()["bytes_fetched"] < 0.10 * size
        np.testing.assert_array_equal(x, _window(str(store / "long.mp4"), 2000)[0])


def test_missing_store_package_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gcsfs", None)     # as if gcsfs were not installed
    with pytest.raises(remote.RemoteError, match=r"pip install 'gpuvideo\[remote\]'"):
        remote.glob_files("gs://bucket/videos/*.mp4")
    with pytest.raises(ValueError, match="block_size"):
        remote.RemoteOptions(block_size=10)
    assert remote.is_remote("s3://b/k") and remote.is_remote("https://h/v.mp4")
    assert not remote.is_remote("/data/v.mp4") and not remote.is_remote("file:///data/v.mp4")
