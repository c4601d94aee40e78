"""Regenerate the data files of the built-in CSV tasks from the copies of the datasets that scikit-learn ships.

Offline source: Debian's python3-sklearn package (`apt-get install -y python3-sklearn`) installs
/usr/lib/python3/dist-packages/sklearn/datasets/data/{digits.csv.gz,diabetes_data_raw.csv.gz,diabetes_target.csv.gz}.
Any scikit-learn installation has the same files under sklearn/datasets/data/.

Usage (from the repository root):
    python3 tasks/builtin/_scripts/prepare_sklearn_data.py [--sklearn-data DIR]

The splits are deterministic (numpy.random.default_rng with a fixed seed); running this again reproduces the
committed files byte for byte. Needs only numpy.
"""
import argparse
import gzip
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BUILTIN = os.path.dirname(HERE)
DEFAULT_SKLEARN_DATA = "/usr/lib/python3/dist-packages/sklearn/datasets/data"


def write_csv(path, header, rows):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="\n") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(row) + "\n")


def fmt_num(x):
    # Shortest exact text for the numbers in these data sets (integers stay integers).
    x = float(x)
    if x == int(x):
        return str(int(x))
    return repr(x)


def split_indices(n, n_test, seed):
    perm = np.random.default_rng(seed).permutation(n)
    return perm[n_test:], perm[:n_test]


def prepare_digits(src):
    with gzip.open(os.path.join(src, "digits.csv.gz"), "rt") as f:
        data = np.loadtxt(f, delimiter=",", dtype=np.int64)
    assert data.shape == (1797, 65), data.shape
    X, y = data[:, :64], data[:, 64]
    train_idx, test_idx = split_indices(len(y), 540, seed=20240611)
    pixels = [f"pixel_{r}_{c}" for r in range(8) for c in range(8)]
    out = os.path.join(BUILTIN, "digitsClassification")
    # ids are assigned after shuffling so they carry no information about the label (the source file is ordered).
    train_rows, test_rows, answer_rows = [], [], []
    for new_id, i in enumerate(train_idx):
        train_rows.append([str(new_id)] + [str(v) for v in X[i]] + [str(y[i])])
    for k, i in enumerate(test_idx):
        new_id = len(train_idx) + k
        test_rows.append([str(new_id)] + [str(v) for v in X[i]])
        answer_rows.append([str(new_id), str(y[i])])
    write_csv(os.path.join(out, "data", "train.csv"), ["id"] + pixels + ["label"], train_rows)
    write_csv(os.path.join(out, "data", "test.csv"), ["id"] + pixels, test_rows)
    write_csv(os.path.join(out, "secret", "answers.csv"), ["id", "label"], answer_rows)
    write_csv(os.path.join(out, "sample_submission.csv"), ["id", "label"], [[r[0], "0"] for r in answer_rows])
    print(f"digits: {len(train_rows)} train, {len(test_rows)} test")


def prepare_diabetes(src):
    with gzip.open(os.path.join(src, "diabetes_data_raw.csv.gz"), "rt") as f:
        X = np.loadtxt(f)
    with gzip.open(os.path.join(src, "diabetes_target.csv.gz"), "rt") as f:
        y = np.loadtxt(f)
    assert X.shape == (442, 10) and y.shape == (442,), (X.shape, y.shape)
    cols = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]
    train_idx, test_idx = split_indices(len(y), 132, seed=20240612)
    out = os.path.join(BUILTIN, "diabetesRegression")
    train_rows, test_rows, answer_rows = [], [], []
    for new_id, i in enumerate(train_idx):
        train_rows.append([str(new_id)] + [fmt_num(v) for v in X[i]] + [fmt_num(y[i])])
    for k, i in enumerate(test_idx):
        new_id = len(train_idx) + k
        test_rows.append([str(new_id)] + [fmt_num(v) for v in X[i]])
        answer_rows.append([str(new_id), fmt_num(y[i])])
    write_csv(os.path.join(out, "data", "train.csv"), ["id"] + cols + ["progression"], train_rows)
    write_csv(os.path.join(out, "data", "test.csv"), ["id"] + cols, test_rows)
    write_csv(os.path.join(out, "secret", "answers.csv"), ["id", "progression"], answer_rows)
    mean = float(np.mean(y[train_idx]))
    write_csv(os.path.join(out, "sample_submission.csv"), ["id", "progression"],
              [[r[0], f"{mean:.1f}"] for r in answer_rows])
    print(f"diabetes: {len(train_rows)} train, {len(test_rows)} test")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sklearn-data", default=DEFAULT_SKLEARN_DATA,
                    help="directory holding scikit-learn's bundled dataset files (default: %(default)s)")
    args = ap.parse_args()
    prepare_digits(args.sklearn_data)
    prepare_diabetes(args.sklearn_data)


if __name__ == "__main__":
    main()
