"""Baseline for the Handwritten Digits Classification task: a nearest-centroid classifier in plain numpy.

Each digit class is represented by the mean of its training images; a test image gets the label of the closest
class mean (Euclidean distance). Writes submission.csv with the columns `id,label`.
"""
import numpy as np


def load_csv(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.loadtxt(path, delimiter=",", skiprows=1)
    return header, np.atleast_2d(data)


def main():
    header, train = load_csv("data/train.csv")
    pixel_cols = [i for i, name in enumerate(header) if name.startswith("pixel_")]
    X_train = train[:, pixel_cols]
    y_train = train[:, header.index("label")].astype(int)

    test_header, test = load_csv("data/test.csv")
    test_pixel_cols = [i for i, name in enumerate(test_header) if name.startswith("pixel_")]
    X_test = test[:, test_pixel_cols]
    test_ids = test[:, test_header.index("id")].astype(int)

    classes = np.unique(y_train)
    centroids = np.stack([X_train[y_train == c].mean(axis=0) for c in classes])
    dists = ((X_test[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    preds = classes[np.argmin(dists, axis=1)]

    train_preds = classes[np.argmin(((X_train[:, None, :] - centroids[None]) ** 2).sum(axis=2), axis=1)]
    print(f"train accuracy: {np.mean(train_preds == y_train):.4f}")

    with open("submission.csv", "w") as f:
        f.write("id,label\n")
        for i, p in zip(test_ids, preds):
            f.write(f"{i},{p}\n")
    print(f"wrote submission.csv with {len(preds)} predictions")


if __name__ == "__main__":
    main()
