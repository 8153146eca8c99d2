"""Mutation run: mutmut over the central modules, each with the tests that exercise it; score to Markdown.

    make mutation                                   # every group below, results in benchmarks/results/mutation.md
    python benchmarks/mutation.py --groups sampling,windows --max-children 2

Each group (one or more modules of ``gpuvideo/`` and the test subset that covers
them) runs in its own scratch copy of the tree (``build/mutation/<group>/``),
so the working tree is never modified and each group has its own ``[mutmut]``
configuration (mutmut reads it from the current directory's ``setup.cfg``).
mutmut 3 first runs the group's tests once to learn which tests call which
function, then runs, for every mutant, only the tests that call the mutated
function; a mutant whose tests use more than ``timeout_multiplier`` times their
clean CPU time is a timeout. The subsets leave out what does not test these
modules (Keras training, the GPU tests, the CLI), which keeps a full run at
about an hour on 2 cores.

Needs ``pip install mutmut==3.8.1`` (not a dependency of the package, nor of
CI). Equivalent mutants (no behaviour can tell them from the original) are
listed in :data:`EQUIVALENT` with the reason, and reported apart from the
survivors.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: group -> (modules to mutate, pytest selection). The selections name the tests that check the behaviour
#: of these modules (directly, or through the generators' exact-frame tests).
GROUPS: dict[str, tuple[list[str], list[str]]] = {
    "sampling": (["gpuvideo/sampling.py"],
                 ["tests/test_sampling.py", "tests/test_generator.py::test_sliding_windows_return_their_own_frames"]),
    "windows": (["gpuvideo/windows.py"],
                ["tests/test_windows.py", "tests/test_timeseries.py"]),
    "ops": (["gpuvideo/ops.py"],
            ["tests/test_motion_ops.py", "tests/test_generator.py::test_grey_frames_use_luma_weights",
             "tests/test_timeseries.py::test_resized_frames_spell_their_index"]),
    "motion": (["gpuvideo/motion.py"],
               ["tests/test_motion_ops.py", "tests/test_flow_generator.py"]),
    "decode": (["gpuvideo/decode/pyav_reader.py", "gpuvideo/decode/pyav_decoder.py", "gpuvideo/decode/excerpt.py"],
               ["tests/test_probe_decode.py", "tests/test_reader_tolerant.py", "tests/test_pyav_decoder.py",
                "tests/test_gpu_path_cpu_checks.py::test_excerpt_decodes_the_same_frames",
                "tests/test_gpu_path_cpu_checks.py::test_when_to_excerpt",
                "tests/test_timeseries.py::test_exact_frames_match_sequential_decode",
                "tests/test_timeseries.py::test_truncated_fill_keeps_batches_full",
                "tests/test_timeseries.py::test_corrupt_bytes_in_the_middle"]),
}

#: mutant name -> why it is equivalent (no input can tell it from the original)
_DEMUX_ERR = ("recovery from demuxer errors: the damaged files the tests make (truncated, bytes overwritten) end the "
              "stream or are concealed by FFmpeg, none makes the demuxer raise and then go on")
_DECODE_ERR = ("the plain (not tolerant) reader's read_available after a decoder error: on the damaged H.264 file of "
               "the tests it does not recover either (every later frame is reported missing, then as now), so stopping "
               "at once gives the same answer; a file where the plain reader recovers after a seek is needed")
#: survivors not killed yet -> what a test that kills them needs (reported beside them)
NOT_KILLED: dict[str, str] = {
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_2": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_7": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_11": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_12": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_13": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_14": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_15": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_16": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_25": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_26": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_27": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_29": _DEMUX_ERR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_68": _DECODE_ERR,
    "gpuvideo.decode.excerpt.x__copy_packets__mutmut_3": "needs a seekable file with a packet without timestamp before its end (none of the test files has one)",
    "gpuvideo.decode.excerpt.x__copy_packets__mutmut_5": "needs a file with a 1-byte packet (none of the test files has one)",
    "gpuvideo.decode.excerpt.x__copy_packets__mutmut_10": "needs a container whose seek lands before the keyframe (the MP4/AVI/WebM test files land on it)",
}

_INT64 = ("`dtype=None` gives int64 here too: the values are Python ints or int64 already, and NumPy's default "
          "integer is int64 on 64-bit Linux and macOS (and everywhere from NumPy 2)")
_RESHAPE = "NumPy (2.4) takes any negative size in reshape as the one unknown dimension: -2 reshapes like -1"
_GREY_ROWS = ("w only sets how the pixels are laid out for cv2.cvtColor, which converts each pixel on its own: "
              "rows of 1 pixel give the same bytes")
_XP_DTYPES = ("xp only supplies dtypes, scalar types and ufuncs here: CuPy's dtypes are NumPy's, and NumPy ufuncs on "
              "CuPy arrays dispatch to CuPy (__array_ufunc__): the same arrays with numpy in place of the array module")
_COPY = "astype's copy flag: the float32 array is only read afterwards, a copy or not gives the same result"
_CLIP_NOOP = ("the clipped values are already in [0, 255]: products of values in [0, 1] by 255 (V and the HSV formula), "
              "so no bound (or 256) changes them")
_GREY_BRANCH = ("the grey branch is a shortcut: with s == 0 every entry of the sector table, v, v(1-s), v(1-s f), "
                "v(1-s(1-f)), is exactly v, so the table gives the same value")
_F64 = "astype(None) converts to float64, the same as astype(float64)"
_THREADS = "FFmpeg's decoder and scaler threads change the speed, not the frames (every frame is identified by its timestamp)"
_FALSY = "None is falsy like False (or the value is only tested for truth): the same branches"
_REOPENED = "the value is replaced when the file is (re)opened, before it is read"
_INT_IDX = ("frame indices are integers: np.asarray keeps them int64 without being told, and the dict of decoded "
            "frames is keyed by the same numbers")
_BILINEAR = "PyAV's reformat interpolates bilinearly by default (interpolation=None is SWS_BILINEAR)"
_ENDED = ("`ended` is only read when frames are missing, after it was set for the target that missed them; its "
          "first value is never read")
_FIRST_KF = ("j == 0 is the first keyframe: seeking there from before it or decoding forward to it reaches the same "
             "frames (with keyframe 0, kf[0] - pos is never positive)")
_FRESH = ("decides only whether a reader still at frame 0 is reopened before decoding from frame 0: reopening "
          "gives the same frames")
_SEEK_DEFAULTS = "PyAV's seek defaults are backward=True, any_frame=False: the same call"
_FLUSH = ("PyAV's demux ends the stream with an empty packet whose decode() flushes the decoder (so `flushed` is "
          "True at the end); the explicit flush after the loop then has nothing left to give, and skipping or "
          "repeating it gives the same frames (the last frames of B-frame files are read in the tests)")
_BEFORE_KF = ("the packets before the keyframe in decode order belong to earlier GOPs and are shown before it: "
              "`packet.pts < pts_start` drops them whether or not `started` filters them first")
_SEEK_UNITS = ("without stream= the timestamp is read in AV_TIME_BASE (microseconds), finer than the stream's time "
               "base: the seek lands earlier and the copy waits for pts_start, so the same packets are copied")
_NONZERO = ("without dtype=bool the mask keeps its type; np.flatnonzero finds the same positions in any 0/1 or "
            "boolean mask, and only its size is used besides (tested with bool and uint8 masks)")
_LEFT_CLIP = "right <= pos.size - 1, so left = right - 1 <= pos.size - 2: no upper bound at or above it changes left"
_INT64_PROMOTED = ("the start keeps its integer type, but adding the int64 np.arange(length) promotes the result to "
                   "int64 (tested with int32 starts)")
EQUIVALENT: dict[str, str] = {
    # sampling.py
    "gpuvideo.sampling.x_legacy_indices__mutmut_34": "the extra kept frame (t_even + 1) is past t_even, so it is "
    "kept only when fewer than nb_frames were, and then clipped to frame_count - 1: the frame the original pads with",
    "gpuvideo.sampling.x_legacy_indices__mutmut_44": _INT64,
    "gpuvideo.sampling.x_legacy_indices__mutmut_46": _INT64,
    "gpuvideo.sampling.x_legacy_indices__mutmut_49": "with len(idx) == nb_frames the mutant appends np.full(0, ...), "
    "an empty array: the same indices",
    "gpuvideo.sampling.x_legacy_indices__mutmut_54": _INT64,
    "gpuvideo.sampling.x_legacy_indices__mutmut_57": _INT64,
    "gpuvideo.sampling.x_sliding_windows__mutmut_16": "fps == 0 is refused by `not fps` before `fps <= 0` is tested",
    "gpuvideo.sampling.x_sliding_windows__mutmut_46": "last_start == 0 means T - 1 == (n - 1) * step, where "
    "uniform_indices(T, n) is exactly [0, step, ..., (n - 1) * step]: the one window the original returns",
    "gpuvideo.sampling.x_sliding_windows__mutmut_47": "last_start is an int: `< 1` is `<= 0`, equivalent as "
    "x_sliding_windows__mutmut_46",
    "gpuvideo.sampling.x_sliding_windows__mutmut_56": _INT64,
    "gpuvideo.sampling.x_sliding_windows__mutmut_67": _INT64,
    "gpuvideo.sampling.x_uniform_indices__mutmut_17": _INT64,
    "gpuvideo.sampling.x_uniform_indices__mutmut_19": _INT64,
    # windows.py
    "gpuvideo.windows.x_nearest_available__mutmut_3": _NONZERO,
    "gpuvideo.windows.x_nearest_available__mutmut_5": _NONZERO,
    "gpuvideo.windows.x_nearest_available__mutmut_16": "np.searchsorted never returns a negative position: the "
    "lower clip at 0 does nothing",
    "gpuvideo.windows.x_nearest_available__mutmut_25": "side='left' is np.searchsorted's default",
    "gpuvideo.windows.x_nearest_available__mutmut_28": "right is raised from 0 to 1 only for frames k at or before "
    "the first available position pos[0]; left is then 0 and pos[0] is at least as near as pos[1] (ties go left): "
    "the same answer pos[0] (with one available frame, clip(1, 0) gives 0)",
    "gpuvideo.windows.x_nearest_available__mutmut_32": "left = -1 (right = 0, k <= pos[0]) picks pos[-1], at least as "
    "far from k as pos[0] = pos[right]: pos[0] wins, or ties only when pos[-1] is pos[0]",
    "gpuvideo.windows.x_nearest_available__mutmut_33": _LEFT_CLIP,
    "gpuvideo.windows.x_nearest_available__mutmut_35": _LEFT_CLIP,
    "gpuvideo.windows.x_nearest_available__mutmut_39": _LEFT_CLIP,
    "gpuvideo.windows.x_nearest_available__mutmut_40": _LEFT_CLIP,
    "gpuvideo.windows.x_window_frames__mutmut_4": _INT64_PROMOTED,
    "gpuvideo.windows.x_window_frames__mutmut_6": _INT64_PROMOTED,
    "gpuvideo.windows.x_window_frames__mutmut_10": _INT64,
    "gpuvideo.windows.x_window_frames__mutmut_12": _INT64,
    "gpuvideo.windows.xǁWindowIndexǁlocate__mutmut_3": "window ids are integers: np.asarray gives int64 without "
    "being told (and the bounds check refuses the rest)",
    "gpuvideo.windows.xǁWindowIndexǁlocate__mutmut_5": "as xǁWindowIndexǁlocate__mutmut_3",
    # ops.py
    "gpuvideo.ops.x_resize__mutmut_39": _RESHAPE,
    "gpuvideo.ops.x_resize__mutmut_46": _RESHAPE,
    "gpuvideo.ops.x_resize__mutmut_66": _RESHAPE,
    "gpuvideo.ops.x_to_grey__mutmut_23": _RESHAPE,
    "gpuvideo.ops.x_to_grey__mutmut_12": _GREY_ROWS,
    "gpuvideo.ops.x_to_grey__mutmut_16": _GREY_ROWS,
    "gpuvideo.ops.x_to_grey__mutmut_17": _GREY_ROWS,
    "gpuvideo.ops.x_to_grey__mutmut_35": "xp only supplies the dtypes int32 and uint8 here, and CuPy's dtypes are "
    "NumPy's (cupy.int32 is numpy.int32): the same arrays on either module",
    # motion.py
    "gpuvideo.motion.x_absdiff__mutmut_2": _XP_DTYPES,
    "gpuvideo.motion.x_average__mutmut_2": _XP_DTYPES,
    "gpuvideo.motion.x_motion_images__mutmut_26": _XP_DTYPES,
    "gpuvideo.motion.x_absdiff__mutmut_6": "a.astype(None) is float64: |a - b| of two uint8 values is exact in float64 and cast to the same uint8",
    "gpuvideo.motion.x_absdiff__mutmut_7": "as x_absdiff__mutmut_6, for b",
    "gpuvideo.motion.x_flow_to_hsv__mutmut_101": "an angle of exactly 0 becomes 360: hue floor(180.5) = 180, wrapped to 0 like the original's floor(0.5) = 0",
    "gpuvideo.motion.x_flow_to_hsv__mutmut_102": "angles in [0, 1) become [360, 361): hue floor(180.5 + a/2) = 180, wrapped to 0; the original's floor(0.5 + a/2) is 0 too",
    "gpuvideo.motion.x_flow_to_hsv__mutmut_108": "the hue stays a whole number in float64 (floor) and is cast to the same uint8 after the wrap",
    "gpuvideo.motion.x_flow_to_hsv__mutmut_169": "the divisor is replaced only where ok is False, and those quotients are discarded by the outer where",
    "gpuvideo.motion.x_flow_to_hsv__mutmut_170": "as x_flow_to_hsv__mutmut_169",
    "gpuvideo.motion.x_flow_to_hsv__mutmut_172": "where the span is <= 1e-6, (m - min) * 1 is below 0.5 and rounds to V = 0, as with the scale 0",
    "gpuvideo.motion.x_flow_to_hsv__mutmut_176": _CLIP_NOOP,
    "gpuvideo.motion.x_flow_to_hsv__mutmut_177": _CLIP_NOOP,
    "gpuvideo.motion.x_flow_to_hsv__mutmut_186": _CLIP_NOOP,
    "gpuvideo.motion.x_flow_to_hsv__mutmut_32": "reshape(None) leaves the array as it is; the loop then runs cv2.cartToPolar on rows instead of images, and the conversion is per element: the same magnitudes and angles (tested with 2-, 3- and 4-axis flows)",
    "gpuvideo.motion.x_flow_to_hsv__mutmut_35": _RESHAPE,
    "gpuvideo.motion.x_gaussian_blur__mutmut_37": _RESHAPE,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_29": _RESHAPE,
    "gpuvideo.motion.x_motion_images__mutmut_78": _RESHAPE,
    "gpuvideo.motion.x_motion_images__mutmut_83": _RESHAPE,
    "gpuvideo.motion.x_motion_images__mutmut_90": _RESHAPE,
    "gpuvideo.motion.x_flow_to_hsv__mutmut_5": _COPY,
    "gpuvideo.motion.x_flow_to_hsv__mutmut_7": _COPY,
    "gpuvideo.motion.x_flow_to_hsv__mutmut_8": _COPY,
    "gpuvideo.motion.x_gaussian_blur__mutmut_6": _COPY,
    "gpuvideo.motion.x_gaussian_blur__mutmut_8": _COPY,
    "gpuvideo.motion.x_gaussian_blur__mutmut_9": _COPY,
    "gpuvideo.motion.x_gaussian_blur__mutmut_52": "borderType=None is cv2's default, BORDER_DEFAULT = BORDER_REFLECT_101",
    "gpuvideo.motion.x_gaussian_blur__mutmut_56": "as x_gaussian_blur__mutmut_52",
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_89": _GREY_BRANCH,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_109": _GREY_BRANCH,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_147": _F64,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_148": _F64,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_154": _F64,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_155": _F64,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_182": _CLIP_NOOP,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_183": _CLIP_NOOP,
    "gpuvideo.motion.x_hsv_to_rgb__mutmut_188": _CLIP_NOOP,
    # decode/
    "gpuvideo.decode.pyav_reader.x_decode_all__mutmut_5": _THREADS,
    "gpuvideo.decode.pyav_reader.x_decode_all__mutmut_7": _THREADS,
    "gpuvideo.decode.pyav_reader.x_decode_all__mutmut_10": _THREADS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_12": _THREADS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_open__mutmut_9": _THREADS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_open__mutmut_10": _THREADS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_open__mutmut_11": _THREADS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_open__mutmut_12": _THREADS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_open__mutmut_13": _THREADS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_open__mutmut_14": _THREADS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ__init____mutmut_15": _FALSY,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_49": _FALSY,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_67": _FALSY,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁread_available__mutmut_5": _FALSY,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect_any__mutmut_19": _FALSY,
    "gpuvideo.decode.pyav_decoder.xǁPyAVDecoderǁdecode_one__mutmut_20": _FALSY,
    "gpuvideo.decode.pyav_decoder.xǁReaderPoolǁrelease__mutmut_9": _FALSY,
    "gpuvideo.decode.excerpt.x__copy_packets__mutmut_1": _FALSY,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ__init____mutmut_20": _REOPENED,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ__init____mutmut_21": _REOPENED,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ__init____mutmut_22": _REOPENED,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁclose__mutmut_3": _REOPENED,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ__init____mutmut_23": "a file without timestamps then goes through the unmapped-timestamp fallback, which switches to counting before the first frame is used: the same frames (and one more log line)",
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ__init____mutmut_27": "the pts list of a file without timestamps is empty: the same empty map",
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_check__mutmut_4": _INT_IDX,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_check__mutmut_6": _INT_IDX,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_check__mutmut_8": _RESHAPE,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_1": "every caller passes strict explicitly: the default is never used",
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_16": _BILINEAR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_19": _BILINEAR,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_26": _ENDED,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_collect__mutmut_27": _ENDED,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_needs_seek__mutmut_17": _FIRST_KF,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_needs_seek__mutmut_18": _FIRST_KF,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_14": "with first == keyframes[0] the mutant starts from frame 0 instead of that keyframe: decoding forward from 0 reaches the same frames (tested with a first keyframe at 12)",
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_15": "k = 1 instead of 0 seeks backward to the keyframe at or before frame 1, which is frame 0's: frames are identified by timestamp, so the same frames",
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_19": _FRESH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_20": _FRESH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_21": _FRESH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_22": _FRESH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_23": _FRESH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_27": _SEEK_DEFAULTS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_30": _SEEK_DEFAULTS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_31": _SEEK_DEFAULTS,
    "gpuvideo.decode.excerpt.x_gop_excerpt__mutmut_27": _SEEK_DEFAULTS,
    "gpuvideo.decode.excerpt.x_gop_excerpt__mutmut_30": _SEEK_DEFAULTS,
    "gpuvideo.decode.excerpt.x_gop_excerpt__mutmut_31": _SEEK_DEFAULTS,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_seek_to__mutmut_35": "_pos = '' is replaced by the first frame after the seek; a seek to a keyframe of the index always yields that keyframe, so '' is never compared",
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_5": _FLUSH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_6": _FLUSH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_10": _FLUSH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_30": _FLUSH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_31": _FLUSH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_32": _FLUSH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_33": _FLUSH,
    "gpuvideo.decode.pyav_reader.xǁPyAVReaderǁ_tolerant_frames__mutmut_49": _FLUSH,
    "gpuvideo.decode.pyav_decoder.xǁPyAVDecoderǁ_read__mutmut_15": "_prepare does not use its info argument",
    "gpuvideo.decode.pyav_decoder.xǁPyAVDecoderǁdecode_one__mutmut_32": "when wanted == idx, pos is 0..n-1 and block[pos] is a copy of block",
    "gpuvideo.decode.pyav_decoder.xǁReaderPoolǁ__init____mutmut_17": "the first call (acquire) finds pid != None, moves the empty idle and busy sets to the orphans and records the pid: the same state before any reader exists",
    "gpuvideo.decode.excerpt.x__copy_packets__mutmut_2": _BEFORE_KF,
    "gpuvideo.decode.excerpt.x__copy_packets__mutmut_8": _BEFORE_KF,
    "gpuvideo.decode.excerpt.x__copy_packets__mutmut_7": "a packet without a timestamp in a seekable file is the demuxer's final flush packet: break or continue, nothing follows it",
    "gpuvideo.decode.excerpt.x_gop_excerpt__mutmut_25": _SEEK_UNITS,
    "gpuvideo.decode.excerpt.x_gop_excerpt__mutmut_29": _SEEK_UNITS,
    "gpuvideo.decode.excerpt.x_gop_excerpt__mutmut_43": "FFmpeg finds output formats by name without regard to case: 'MATROSKA' is the matroska muxer",
}

#: what a group's scratch copy holds besides the modules (tests import the whole package)
COPY = ["gpuvideo", "tests", "kernels", "pytest.ini", "setup.py", "README.md"]

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests", 34: "skipped", 36: "timeout",
          24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault",
          37: "type check", None: "not checked"}


def _cfg(modules: list[str], tests: list[str], multiplier: float) -> str:
    def lines(values):
        return "".join(f"\n    {v}" for v in values)
    return ("[mutmut]\n"
            "source_paths = gpuvideo\n"
            f"only_mutate ={lines(modules)}\n"
            f"pytest_add_cli_args_test_selection ={lines(tests)}\n"
            "pytest_add_cli_args =\n    -p\n    no:cacheprovider\n"
            f"also_copy ={lines(['kernels', 'pytest.ini', 'setup.py', 'README.md'])}\n"
            f"timeout_multiplier = {multiplier}\n"
            # the parent runs the stats pass (TensorFlow/Keras imported, FFmpeg threads): fork mutants from a
            # clean server instead
            "process_isolation = forkserver\n"
            "use_git_change_detection = false\n")


def prepare(group: str, workdir: Path, multiplier: float) -> Path:
    modules, tests = GROUPS[group]
    d = workdir / group
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    for name in COPY:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, d / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.exists():
            shutil.copy2(src, d / name)
    (d / "setup.cfg").write_text(_cfg(modules, tests, multiplier))
    return d


def run_group(d: Path, max_children: int, log, names: list[str] | None = None) -> float:
    env = dict(os.environ, GPUVIDEO_CACHE_DIR=str(d / ".cache"), PYTHONDONTWRITEBYTECODE="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", TF_NUM_INTEROP_THREADS="1",
               TF_NUM_INTRAOP_THREADS="1")
    env.pop("PYTHONPATH", None)
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or "mutmut"
    t0 = time.time()
    subprocess.run([mutmut, "run", "--max-children", str(max_children), *(names or [])], cwd=d, env=env, stdout=log,
                   stderr=subprocess.STDOUT, check=False)
    return time.time() - t0


def rerun_survivors(g: str, workdir: Path, max_children: int, log) -> float:
    """Test the survivors (and untested mutants) of the last run of group ``g`` again, with the current tests.

    The scratch copy keeps its mutants (the library code they were made from) and gets this tree's tests;
    mutmut finds the new tests, learns which functions they call, and reruns the mutants named. Mutants
    already killed stay killed: tests are only ever added or sharpened."""
    d = workdir / g
    todo = [name for m in GROUPS[g][0] for name, status in results(d, [m])[m].items()
            if status in ("survived", "no tests")]
    if not todo:
        return 0.0
    shutil.rmtree(d / "tests")
    shutil.copytree(ROOT / "tests", d / "tests", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return run_group(d, max_children, log, todo)


def results(d: Path, modules: list[str]) -> dict:
    out = {}
    for m in modules:
        meta = d / "mutants" / (m + ".meta")
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        out[m] = {k: STATUS.get(v, "suspicious") for k, v in codes.items()}
    return out


def _log_call_lines(module: str) -> set[str]:
    """Stripped source lines that belong to a logging call (log.debug/info/warning/..., log_once) of ``module``."""
    import ast
    src = (ROOT / module).read_text()
    lines = src.splitlines()
    out = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Call):
            f = node.func
            if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "log") or \
                    (isinstance(f, ast.Name) and f.id == "log_once"):
                out.update(line.strip() for line in lines[node.lineno - 1:node.end_lineno])
    return out


def _only_log_text(diff: str, log_lines: set[str]) -> bool:
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-")]
    return bool(removed) and all(line in log_lines for line in removed)


def show(d: Path, name: str) -> str:
    mutmut = shutil.which("mutmut", path=str(Path(sys.executable).parent)) or "mutmut"
    r = subprocess.run([mutmut, "show", name], cwd=d, capture_output=True, text=True)
    return "\n".join(line for line in r.stdout.splitlines() if line.startswith(("+", "-"))
                     and not line.startswith(("+++", "---")))


def commit() -> str:
    r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "gpuvideo", "tests"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return r.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


def report(rows: list[dict], survivors: list[tuple], equivalents: list[tuple], log_only: list[str], args) -> str:
    cols = ["mutants", "killed", "timeout", "survived", "log text", "equivalent", "no tests", "other"]
    runs = {r["group"]: r["run"] for r in rows}
    text = ["# Mutation score", "",
            f"mutmut {_mutmut_version()}, Python {sys.version.split()[0]}, "
            f"{os.cpu_count()} CPU(s). Command: `make mutation` (= `python benchmarks/mutation.py`; one group: "
            "`--groups sampling`; survivors again with the current tests: `--rerun-survivors`).", "",
            "Each group runs in its own scratch copy with its own test subset (column *tests*); for every mutant "
            "mutmut runs only the tests of that subset that call the mutated function. A timeout (the tests ran "
            f"{args.timeout_multiplier:g} times longer than on the clean code) counts as killed. "
            "Score = (killed + timeout) / (mutants - equivalent). *log text*: survivors that only change the text "
            "of a logging call (debug and info messages), not behaviour; they count against the score.", "",
            "| module | " + " | ".join(cols) + " | score | tests |",
            "|---|" + "---:|" * len(cols) + "---:|---|"]
    for r in rows:
        real = r["mutants"] - r["equivalent"]
        score = (r["killed"] + r["timeout"]) / real if real else 1.0
        text.append(f"| `{r['module']}` | " + " | ".join(str(r[c]) for c in cols)
                    + f" | {100 * score:.1f}% | {r['tests']} |")
    tot = {c: sum(r[c] for r in rows) for c in cols}
    real = tot["mutants"] - tot["equivalent"]
    score = (tot["killed"] + tot["timeout"]) / real if real else 1.0
    text.append("| **all** | " + " | ".join(f"**{tot[c]}**" for c in cols) + f" | **{100 * score:.1f}%** | |")
    text += ["", "## Runs", "",
             "The full run of a group tests every mutant against the tests of its commit; its survivors were then "
             "tested again after the sharper tests were added (`--rerun-survivors`).", "",
             "| group | full run | commit | minutes | killed / survived (incl. no tests) in the full run | "
             "survivors tested again (commit, minutes) |", "|---|---|---|---:|---|---|"]
    for g, run in runs.items():
        again = "; ".join(f"{x['when']} ({x['commit']}, {x['minutes']})" for x in run.get("reruns", [])) or "-"
        first = ", ".join(f"`{Path(m).name}` {c['killed']} / {c['survived']}" for m, c in run.get("first", {}).items())
        text.append(f"| {g} | {run['when']} | {run.get('commit', '?')} | {run['minutes']} | {first or '?'} | {again} |")
    text += ["", "## Survivors", ""]
    if survivors:
        for name, diff in survivors:
            why = NOT_KILLED.get(name)
            text += [f"- `{name}`" + (f": not killed: {why}" if why else ""), "", "  ```diff",
                     *("  " + line for line in diff.splitlines()), "  ```"]
    else:
        text.append("None.")
    if log_only:
        text += ["", "## Survivors in log messages only", "", ", ".join(f"`{n}`" for n in log_only)]
    text += ["", "## Equivalent mutants", "",
             "No input can tell these from the original code; the reason is given for each.", ""]
    if equivalents:
        for name, diff, why in equivalents:
            text += [f"- `{name}`: {why}", "", "  ```diff", *("  " + line for line in diff.splitlines()), "  ```"]
    else:
        text.append("None.")
    other = [(r["module"], r["other_names"]) for r in rows if r.get("other_names")]
    if other:
        text += ["", "## Other outcomes", ""]
        text += [f"- `{m}`: " + ", ".join(f"`{n}` ({st})" for n, st in names) for m, names in other]
    return "\n".join(text) + "\n"


def _mutmut_version() -> str:
    try:
        from importlib.metadata import version
        return version("mutmut")
    except Exception:   # noqa: BLE001
        return "?"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--groups", default=",".join(GROUPS), help=f"comma-separated, of {', '.join(GROUPS)}")
    p.add_argument("--max-children", type=int, default=2, help="mutants tested in parallel (default: 2)")
    p.add_argument("--timeout-multiplier", type=float, default=10.0)
    p.add_argument("--workdir", default=str(ROOT / "build" / "mutation"))
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "mutation.md"))
    p.add_argument("--reuse", action="store_true", help="report on the last run's scratch copies, run nothing")
    p.add_argument("--rerun-survivors", action="store_true",
                   help="keep the last run's mutants and results; test its survivors again with the current tests")
    args = p.parse_args(argv)
    args.command = "python benchmarks/mutation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    groups = [g for g in args.groups.split(",") if g]
    for g in groups:
        if g not in GROUPS:
            p.error(f"unknown group {g!r}: one of {', '.join(GROUPS)}")
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rows, survivors, equivalents, log_only = [], [], [], []
    when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    for g in groups:
        if args.reuse:
            continue
        if args.rerun_survivors:
            run = json.loads((workdir / f"{g}.run").read_text())
            with open(workdir / f"{g}.rerun.log", "a") as log:
                print(f"[mutation] {g}: survivors again, with this tree's tests (log {log.name})", flush=True)
                minutes = rerun_survivors(g, workdir, args.max_children, log) / 60
            run["reruns"] = run.get("reruns", []) + [{"when": when, "commit": commit(), "minutes": round(minutes, 1)}]
            (workdir / f"{g}.run").write_text(json.dumps(run))
            continue
        when = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        d = prepare(g, workdir, args.timeout_multiplier)
        with open(workdir / f"{g}.log", "w") as log:
            print(f"[mutation] {g}: mutmut run in {d} (log {workdir / (g + '.log')})", flush=True)
            minutes = run_group(d, args.max_children, log) / 60
        first = {}
        for m, by_name in results(d, GROUPS[g][0]).items():
            statuses = list(by_name.values())
            first[m] = {"mutants": len(statuses), "killed": statuses.count("killed") + statuses.count("timeout"),
                        "survived": statuses.count("survived") + statuses.count("no tests")}
        (workdir / f"{g}.run").write_text(json.dumps({"minutes": round(minutes, 1), "when": when, "first": first,
                                                      "commit": commit(), "command": args.command}))
    # the report covers every group with results in the workdir (a run of some groups keeps the others')
    for g, (modules, tests) in GROUPS.items():
        d = workdir / g
        if not (d / "mutants").is_dir() or not (workdir / f"{g}.run").exists():
            continue
        run = json.loads((workdir / f"{g}.run").read_text())
        res = results(d, modules)
        for m, by_name in res.items():
            counts = {"mutants": len(by_name), "killed": 0, "survived": 0, "log text": 0, "equivalent": 0,
                      "timeout": 0, "no tests": 0, "other": 0}
            other_names = []
            log_lines = _log_call_lines(m)
            for name, status in sorted(by_name.items()):
                if status == "survived" and name in EQUIVALENT:
                    counts["equivalent"] += 1
                    equivalents.append((name, show(d, name), EQUIVALENT[name]))
                elif status == "survived":
                    diff = show(d, name)
                    if _only_log_text(diff, log_lines):
                        counts["log text"] += 1
                        log_only.append(name)
                    else:
                        counts["survived"] += 1
                        survivors.append((name, diff))
                elif status in ("killed", "timeout", "no tests"):
                    counts[status] += 1
                else:
                    counts["other"] += 1
                    other_names.append((name, status))
            rows.append({"group": g, "module": m, "tests": " ".join(f"`{t}`" for t in tests), "run": run,
                         "other_names": other_names, **counts})
            print(f"[mutation] {m}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), flush=True)
    Path(args.out).write_text(report(rows, survivors, equivalents, log_only, args))
    print(f"[mutation] wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
