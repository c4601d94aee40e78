"""Baseline for digits on a GPU: a small PyTorch MLP trained with Adam on CUDA (CPU when there is no GPU).

Needs PyTorch (the only built-in task that does). Prints the device and the training time, writes submission.csv.
"""
import time

import numpy as np
import torch
from torch import nn


def load_csv(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    return header, np.atleast_2d(np.loadtxt(path, delimiter=",", skiprows=1))


def main():
    torch.manual_seed(0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu"
    print(f"device: {device} ({name})")

    header, train = load_csv("data/train.csv")
    pix = [i for i, h in enumerate(header) if h.startswith("pixel_")]
    x = torch.tensor(train[:, pix] / 16.0, dtype=torch.float32, device=device)
    y = torch.tensor(train[:, header.index("label")], dtype=torch.long, device=device)
    theader, test = load_csv("data/test.csv")
    tpix = [i for i, h in enumerate(theader) if h.startswith("pixel_")]
    xt = torch.tensor(test[:, tpix] / 16.0, dtype=torch.float32, device=device)
    ids = test[:, theader.index("id")].astype(int)

    model = nn.Sequential(nn.Linear(64, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    start = time.time()
    for epoch in range(300):
        perm = torch.randperm(len(x), device=device)
        for i in range(0, len(x), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            loss = loss_fn(model(x[b]), y[b])
            loss.backward()
            opt.step()
        if epoch % 100 == 99:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f}")
    if device.type == "cuda":
        torch.cuda.synchronize()
    print(f"training time: {time.time() - start:.2f} s")
    with torch.no_grad():
        pred = model(xt).argmax(1).cpu().numpy()
    with open("submission.csv", "w") as f:
        f.write("id,label\n")
        for i, p in zip(ids, pred):
            f.write(f"{i},{p}\n")
    print(f"wrote submission.csv with {len(pred)} predictions")


if __name__ == "__main__":
    main()
