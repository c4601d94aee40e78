"""Evaluation script for the Diabetes Progression Regression task. DO NOT MODIFY.

Usage: python evaluate.py --submission_file submission.csv

Reads the submission (columns `id,progression`, one row per row of data/test.csv), compares it with the hidden
targets and prints one JSON dict, e.g. {"rmse": 58.8, "r2": 0.37, "mae": 47.1}. An invalid submission makes it exit
non-zero with the reason on stderr.
"""
import argparse
import csv
import json
import math
import os
import sys

SECRET_FILE = "answers.csv"
DEFAULT_SECRET_DIR = "/home/agent/secret"
TARGET = "progression"


def fail(msg):
    print(f"Evaluation failed: {msg}", file=sys.stderr)
    sys.exit(1)


def secret_path(name):
    # The hidden targets are mounted at /home/agent/secret only while this script runs;
    # SYNTHGYM_SECRET_DIR overrides the location (for running the task outside a sandbox).
    return os.path.join(os.environ.get("SYNTHGYM_SECRET_DIR") or DEFAULT_SECRET_DIR, name)


def load_answers():
    path = secret_path(SECRET_FILE)
    if not os.path.isfile(path):
        fail(f"hidden targets not found at {path} (set SYNTHGYM_SECRET_DIR when running outside the sandbox)")
    with open(path, newline="") as f:
        return {row["id"]: float(row[TARGET]) for row in csv.DictReader(f)}


def load_submission(path, expected_ids):
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            if "id" not in header or TARGET not in header:
                fail(f"submission must have a header with the columns 'id' and '{TARGET}' (found {header})")
            preds = {}
            for line, row in enumerate(reader, start=2):
                rid = (row["id"] or "").strip()
                raw = (row[TARGET] or "").strip()
                if rid in preds:
                    fail(f"line {line}: duplicate id {rid}")
                try:
                    value = float(raw)
                except ValueError:
                    fail(f"line {line}: {TARGET} '{raw}' is not a number")
                if not math.isfinite(value):
                    fail(f"line {line}: {TARGET} '{raw}' is not finite")
                preds[rid] = value
    except (UnicodeDecodeError, csv.Error) as e:
        fail(f"cannot read submission as CSV: {e}")
    missing = [i for i in expected_ids if i not in preds]
    extra = [i for i in preds if i not in expected_ids]
    if missing:
        fail(f"{len(missing)} test ids have no prediction (e.g. {missing[:5]}); predict every id in data/test.csv")
    if extra:
        fail(f"{len(extra)} ids are not in data/test.csv (e.g. {extra[:5]})")
    return preds


def test_ids(path="data/test.csv"):
    with open(path, newline="") as f:
        return [row["id"] for row in csv.DictReader(f)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--submission_file", default="submission.csv")
    args = parser.parse_args()
    if not os.path.isfile(args.submission_file):
        fail(f"submission file '{args.submission_file}' does not exist; write your predictions for data/test.csv to submission.csv")
    # the submission is checked against the public test ids before the hidden file is opened, so its format
    # errors come out the same with or without the hidden answers mounted
    preds = load_submission(args.submission_file, test_ids())
    answers = load_answers()
    ids = sorted(answers, key=int)
    y = [answers[i] for i in ids]
    p = [preds[i] for i in ids]
    n = len(y)
    mean_y = sum(y) / n
    sse = sum((a - b) ** 2 for a, b in zip(y, p))
    sst = sum((a - mean_y) ** 2 for a in y)
    metrics = {
        "rmse": math.sqrt(sse / n),
        "r2": 1.0 - sse / sst,
        "mae": sum(abs(a - b) for a, b in zip(y, p)) / n,
    }
    print(json.dumps(metrics))


if __name__ == "__main__":
    main()
