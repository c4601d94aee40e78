"""Baseline for the Diabetes Progression Regression task: ordinary least squares on two features in plain numpy.

Fits progression ~ w0 + w1 * bmi + w2 * bp on data/train.csv and writes submission.csv (`id,progression`)
with predictions for every row of data/test.csv.
"""
import numpy as np

FEATURES = ["bmi", "bp"]
TARGET = "progression"


def load_csv(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    return header, np.atleast_2d(np.loadtxt(path, delimiter=",", skiprows=1))


def design(header, data):
    cols = [header.index(name) for name in FEATURES]
    return np.column_stack([np.ones(len(data)), data[:, cols]])


def main():
    header, train = load_csv("data/train.csv")
    y = train[:, header.index(TARGET)]
    w, *_ = np.linalg.lstsq(design(header, train), y, rcond=None)
    train_rmse = float(np.sqrt(np.mean((design(header, train) @ w - y) ** 2)))
    print(f"coefficients (intercept, {', '.join(FEATURES)}): {np.round(w, 3).tolist()}")
    print(f"train rmse: {train_rmse:.3f}")

    test_header, test = load_csv("data/test.csv")
    preds = design(test_header, test) @ w
    ids = test[:, test_header.index("id")].astype(int)
    with open("submission.csv", "w") as f:
        f.write(f"id,{TARGET}\n")
        for i, p in zip(ids, preds):
            f.write(f"{i},{p:.6f}\n")
    print(f"wrote submission.csv with {len(preds)} predictions")


if __name__ == "__main__":
    main()
