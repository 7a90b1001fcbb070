#!/usr/bin/env python3
"""Checks DMS responses against botocore's service model: every member is one the model names
for the operation's output, with the model's type, recursively. Usage: check_shapes.py FILE
where FILE holds [{"operation": ..., "output": {...}}, ...]. Prints one line per problem and exits
1 if there is any."""
import gzip, json, os, sys
import botocore

data = os.path.join(os.path.dirname(botocore.__file__), "data", "dms", "2016-01-01")
path = os.path.join(data, "service-2.json")
model = json.load(open(path)) if os.path.exists(path) else json.load(gzip.open(path + ".gz"))
shapes = model["shapes"]
problems = []

def check(value, shape_name, where):
    shape = shapes[shape_name]
    t = shape["type"]
    if t == "structure":
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object ({shape_name})"); return
        for k, v in value.items():
            if k not in shape["members"]:
                problems.append(f"{where}.{k}: not a member of {shape_name}"); continue
            check(v, shape["members"][k]["shape"], f"{where}.{k}")
    elif t == "list":
        if not isinstance(value, list):
            problems.append(f"{where}: expected a list"); return
        for i, v in enumerate(value):
            check(v, shape["member"]["shape"], f"{where}[{i}]")
    elif t == "string":
        if not isinstance(value, str): problems.append(f"{where}: expected a string, got {value!r}")
        elif "enum" in shape and value not in shape["enum"]:
            pass  # DMS returns values outside some enums (e.g. EndpointType SOURCE)
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{where}: expected an integer, got {value!r}")
    elif t == "double":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{where}: expected a number, got {value!r}")
    elif t == "boolean":
        if not isinstance(value, bool): problems.append(f"{where}: expected a boolean, got {value!r}")
    elif t == "timestamp":
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            problems.append(f"{where}: expected epoch seconds, got {value!r}")

for call in json.load(open(sys.argv[1])):
    op = model["operations"][call["operation"]]
    check(call["output"], op["output"]["shape"], call["operation"])
for p in problems: print(p)
sys.exit(1 if problems else 0)
