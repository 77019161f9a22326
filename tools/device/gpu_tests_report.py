#!/usr/bin/env python3
"""Records a GPU-test call (tools/device/gpu_tests.sh, then tools/device/retime.sh) as
bench/results/<gpu>/gpu-tests.json: the GPU, driver and CUDA, each GPU test's result and seconds
(from ctest-gpu.log), and the re-time's runs in call order (from retime.jsonl). The record it
replaces moves, whole, to the front of `earlier_calls`.

Usage: gpu_tests_report.py --dir FILES_FROM_OUT --result bench/results/h200/gpu-tests.json
                           --commit DESCRIPTION --command COMMAND [--date YYYY-MM-DD]"""
import argparse, datetime, json, os, re, sys


def parse_tests(path):
    # ctest lines: " 3/14 Test #12: test_attn_sla_gpu ..........   Passed    9.81 sec"
    pat = re.compile(r"Test\s+#\d+:\s+(\S+)\s+\.*\**\s*([A-Za-z][A-Za-z ]*?)\s+([\d.]+)\s+sec")
    tests = []
    for line in open(path):
        m = pat.search(line)
        if m:
            tests.append({"name": m.group(1), "result": m.group(2).strip(), "seconds": float(m.group(3))})
    return tests


def parse_runs(path):
    runs = []
    for line in open(path):
        line = line.strip()
        if not line.startswith("{"):
            continue
        o = json.loads(line)
        r = {"method": o["method"], "inputs": o.get("inputs", "plain"), "fwd_ms": o["fwd"]["ms"]}
        if "bwd" in o:
            r["bwd_ms"] = o["bwd"]["ms"]
        for key in ("sparsity", "budget"):
            if key in o:
                r[key] = o[key]
        if "route_ms" in o:
            r["route_ms"] = o["route_ms"]
        if "o_vs_dense" in o:
            r["o_vs_dense"] = o["o_vs_dense"]
        if "stages_ms" in o:
            r["stages_ms"] = o["stages_ms"]
        runs.append(r)
    return runs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--commit", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--date", default=datetime.date.today().isoformat())
    a = ap.parse_args()
    tests = parse_tests(os.path.join(a.dir, "ctest-gpu.log"))
    if not tests:
        sys.exit("no test results in ctest-gpu.log")
    lines = open(os.path.join(a.dir, "gpu.txt")).read().splitlines()  # nvidia-smi csv, then "cuda X.Y"
    gpu = lines[0].split(", ")
    cuda = next((l.split()[1] for l in lines[1:] if l.startswith("cuda ")), None)
    info = json.load(open(os.path.join(a.dir, "info.json")))
    old = json.load(open(a.result)) if os.path.exists(a.result) else {}
    earlier = old.pop("earlier_calls", [])
    rec = {"date": a.date, "gpu": gpu[0], "driver": gpu[2] if len(gpu) > 2 else None,
           "cuda": cuda,
           "command": a.command, "commit_tested": a.commit, "vdit_info": info, "tests": tests}
    retime = os.path.join(a.dir, "retime.jsonl")
    if os.path.exists(retime):
        rec["retime_same_call"] = {"note": "tools/device/retime.sh: B=1, H=12, S=32760, D=128, bf16, bhsd, no mask; "
                                           "runs in call order", "runs": parse_runs(retime)}
    rec["earlier_calls"] = ([old] if old else []) + earlier
    json.dump(rec, open(a.result, "w"), indent=1)
    print(f"{sum(t['result'] == 'Passed' for t in tests)}/{len(tests)} GPU tests passed; "
          f"{len(rec.get('retime_same_call', {}).get('runs', []))} re-time runs -> {a.result}")


if __name__ == "__main__":
    main()
