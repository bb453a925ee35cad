#!/usr/bin/env python3
"""albert-cl serve under load, against the CLI on the same lines and device.

usage: tools/bench_serve.py [--lines N] [--model DIR] [--device D] [--clients C]
                            [--per-request K] [--endpoint /v1/embeddings|/embed] BINARY

Generates LINES lines (as tools/bench-stream.sh does: seeded, 1 to 40 words),
times one CLI run over them (lines/s), then starts `BINARY serve` on a free
port and has C client threads (keep-alive connections) send the same lines,
K per request, each request's answer checked for its count of vectors.
Prints one markdown table: lines/s of each, requests/s, p50/p99 latency.
Python 3 standard library only.
"""
import argparse
import http.client
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def make_lines(n):
    rnd = random.Random(7)
    words = ("the quick brown fox jumps over a lazy dog while paris sleeps "
             "under light rain").split()
    return [" ".join(rnd.choice(words) for _ in range(rnd.randint(1, 40))) for _ in range(n)]


def cli_rate(args, lines):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        path = f.name
    try:
        base = [args.binary, "--model", args.model, "--device", args.device, "--quiet",
                "-o", os.devnull]
        subprocess.run(base + [path], check=True)  # warm: kernels built and cached
        start = time.perf_counter()
        subprocess.run(base + [path], check=True)
        return len(lines) / (time.perf_counter() - start)
    finally:
        os.unlink(path)


def start_server(args):
    proc = subprocess.Popen([args.binary, "serve", "--model", args.model, "--device",
                             args.device, "--port", "0"], stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"listening on http://([^ ]+):(\d+)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, m.group(1), int(m.group(2))
    raise SystemExit("bench_serve: the server did not start")


def load(args, host, port, lines):
    requests = [lines[i:i + args.per_request] for i in range(0, len(lines), args.per_request)]
    latencies, lock, failures = [], threading.Lock(), []
    next_request = iter(range(len(requests)))

    def client():
        conn = http.client.HTTPConnection(host, port, timeout=600)
        key = "input" if args.endpoint == "/v1/embeddings" else "inputs"
        while True:
            with lock:
                k = next(next_request, None)
            if k is None:
                return
            body = json.dumps({key: requests[k]})
            t = time.perf_counter()
            conn.request("POST", args.endpoint, body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            data = resp.read()
            dt = time.perf_counter() - t
            ok = resp.status == 200
            if ok:
                got = json.loads(data)
                got = got["data"] if isinstance(got, dict) else got
                ok = len(got) == len(requests[k])
            with lock:
                latencies.append(dt)
                if not ok:
                    failures.append((resp.status, data[:200]))

    threads = [threading.Thread(target=client) for _ in range(args.clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    if failures:
        raise SystemExit(f"bench_serve: {len(failures)} bad answers, first {failures[0]}")
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3
    return len(lines) / wall, len(requests) / wall, pick(0.5), pick(0.99)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=20000)
    ap.add_argument("--model", default=os.path.join(HERE, "..", "..", "shared", "models",
                                                    "tiny-gelu"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--per-request", type=int, default=4)
    ap.add_argument("--endpoint", default="/v1/embeddings", choices=["/v1/embeddings", "/embed"])
    ap.add_argument("binary")
    args = ap.parse_args()
    lines = make_lines(args.lines)
    cli = cli_rate(args, lines)
    proc, host, port = start_server(args)
    try:
        load(args, host, port, lines[:200])  # warm-up
        rate, rps, p50, p99 = load(args, host, port, lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        status = proc.wait(timeout=60)
    if status != 0:
        raise SystemExit(f"bench_serve: the server exited with {status}")
    model = os.path.basename(os.path.normpath(args.model))
    print("| model | device | lines | CLI lines/s | server lines/s | server / CLI | "
          "requests/s | p50 ms | p99 ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {model} | {args.device} | {args.lines} ({args.clients} clients x "
          f"{args.per_request} per request) | {cli:.0f} | {rate:.0f} | {rate / cli:.2f} | "
          f"{rps:.0f} | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    main()
