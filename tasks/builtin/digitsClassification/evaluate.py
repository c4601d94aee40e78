"""Evaluation script for the Handwritten Digits Classification task. DO NOT MODIFY.

Usage: python evaluate.py --submission_file submission.csv

Reads the submission (columns `id,label`, one row per row of data/test.csv), compares it with the hidden answers
and prints one JSON dict, e.g. {"accuracy": 0.9}. An invalid submission makes it exit non-zero with the reason on stderr.
"""
import argparse
import csv
import json
import os
import sys

SECRET_FILE = "answers.csv"
DEFAULT_SECRET_DIR = "/home/agent/secret"
NUM_CLASSES = 10


def fail(msg):
    print(f"Evaluation failed: {msg}", file=sys.stderr)
    sys.exit(1)


def secret_path(name):
    # The hidden answers are mounted at /home/agent/secret only while this script runs;
    # SYNTHGYM_SECRET_DIR overrides the location (for running the task outside a sandbox).
    return os.path.join(os.environ.get("SYNTHGYM_SECRET_DIR") or DEFAULT_SECRET_DIR, name)


def load_answers():
    path = secret_path(SECRET_FILE)
    if not os.path.isfile(path):
        fail(f"hidden answers not found at {path} (set SYNTHGYM_SECRET_DIR when running outside the sandbox)")
    with open(path, newline="") as f:
        return {row["id"]: int(row["label"]) for row in csv.DictReader(f)}


def load_submission(path, expected_ids):
    if not os.path.isfile(path):
        fail(f"submission file '{path}' does not exist; write your predictions for data/test.csv to submission.csv")
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            reader.fieldnames = header
            if "id" not in header or "label" not in header:
                fail(f"submission must have a header with the columns 'id' and 'label' (found {header})")
            preds = {}
            for line, row in enumerate(reader, start=2):
                rid = (row["id"] or "").strip()
                raw = (row["label"] or "").strip()
                if rid in preds:
                    fail(f"line {line}: duplicate id {rid}")
                try:
                    value = float(raw)
                except ValueError:
                    fail(f"line {line}: label '{raw}' is not a number")
                if value != int(value) or not 0 <= int(value) < NUM_CLASSES:
                    fail(f"line {line}: label '{raw}' is not an integer class in 0..{NUM_CLASSES - 1}")
                preds[rid] = int(value)
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
    correct = sum(1 for i, label in answers.items() if preds[i] == label)
    print(json.dumps({"accuracy": correct / len(answers)}))


if __name__ == "__main__":
    main()
