"""Lever h: W1 through Keras's own PyDataset workers, as model.fit would run them (1 thread with gpuvideo's
read-ahead, 2 threads, 2 processes); epochs of the adapter's iterator, the first one (start-up) left out.

    python benchmarks/levers/lever_h_keras_workers.py [--epochs 4]
"""
import argparse
import statistics
import time

import common

import gpuvideo


def run(workers, processes, epochs):
    from keras.src.trainers.data_adapters.py_dataset_adapter import PyDatasetAdapter

    gen = gpuvideo.VideoFrameGenerator(glob_pattern=str(common.DATA / "w1" / "{classname}" / "*.avi"), nb_frames=8,
                                       batch_size=8, target_shape=(112, 112), shuffle=False, index_cache=None,
                                       progress=False, workers=workers, use_multiprocessing=processes)
    adapter = PyDatasetAdapter(gen, shuffle=False)
    rates = []
    for _ in range(epochs):
        t, n = time.perf_counter(), 0
        for x, _y in adapter.get_numpy_iterator():
            n += len(x)
        rates.append(n / (time.perf_counter() - t))
        adapter.on_epoch_end()
    gen.close()
    return rates


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=4)
    args = ap.parse_args()
    print("load average", common.load())
    print("| Keras workers | clips/s (median of epochs 2..) | every epoch |\n|---|---:|---|")
    for workers, processes in ((1, False), (2, False), (2, True)):
        rates = run(workers, processes, args.epochs)
        what = f"{workers} {'processes' if processes else 'thread' + ('s' if workers > 1 else '')}"
        print(f"| {what} | {statistics.median(rates[1:]):.0f} | {', '.join(f'{r:.0f}' for r in rates)} |")


if __name__ == "__main__":
    main()
