#!/usr/bin/env python3
"""Writes the lab's sample data: five tables of a small shop as DMS-style CSV objects.

    generate.py OUT_DIR [--orders N]

OUT_DIR/sales/public/<table>/LOAD0000000k.csv (header row + rows; deterministic for a given N),
with the ExternalTableDefinition in examples/lab/table-definition.json. Row counts: customers
N/10, products 200, orders N, order_items 2–3 per order, payments 1 per order.
"""
import argparse
import os
import random

ap = argparse.ArgumentParser()
ap.add_argument("out")
ap.add_argument("--orders", type=int, default=20000)
args = ap.parse_args()
rnd = random.Random(20261130)
PER_OBJECT = 50000


def csv_value(v):
    if v is None:
        return ""
    s = str(v)
    if any(c in s for c in ',"\n'):
        s = '"' + s.replace('"', '""') + '"'
    return s


def write(table, header, rows):
    folder = os.path.join(args.out, "sales", "public", table)
    os.makedirs(folder, exist_ok=True)
    out, n, part = None, 0, 0
    for row in rows:
        if n % PER_OBJECT == 0:
            if out:
                out.close()
            part += 1
            out = open(os.path.join(folder, "LOAD%08d.csv" % part), "w", newline="")
            out.write(",".join(header) + "\n")
        out.write(",".join(csv_value(v) for v in row) + "\n")
        n += 1
    if out:
        out.close()
    return n


cities = ["Lisbon", "Porto", "Berlin", "Paris, 11e", "Tromsø", "São Paulo", 'The "Big" Apple']
n_customers = max(10, args.orders // 10)
write("customers", ["customer_id", "name", "email", "city", "active", "signed_up"], (
    (i, "Customer %d" % i, None if i % 9 == 0 else "c%d@example.com" % i, rnd.choice(cities),
     "true" if i % 4 else "false",
     "20%02d-%02d-%02d" % (rnd.randint(15, 25), rnd.randint(1, 12), rnd.randint(1, 28)))
    for i in range(1, n_customers + 1)))
skus = ["SKU-%05d" % i for i in range(1, 201)]
prices = {s: "%d.%02d" % (rnd.randint(1, 900), rnd.randint(0, 99)) for s in skus}
write("products", ["sku", "name", "price", "weight_kg", "stocked_at"], (
    (s, "Product %s" % s[4:], prices[s], None if i % 11 == 0 else round(rnd.uniform(0.1, 30), 3),
     "2025-%02d-%02d %02d:%02d:%02d.%06d" % (rnd.randint(1, 12), rnd.randint(1, 28),
                                             rnd.randint(0, 23), rnd.randint(0, 59),
                                             rnd.randint(0, 59), rnd.randint(0, 999999)))
    for i, s in enumerate(skus)))
statuses = ["new", "paid", "shipped", "cancelled, refunded"]
orders, items, payments = [], [], []
for o in range(1, args.orders + 1):
    when = "2026-%02d-%02d %02d:%02d:%02d" % (rnd.randint(1, 11), rnd.randint(1, 28),
                                               rnd.randint(0, 23), rnd.randint(0, 59),
                                               rnd.randint(0, 59))
    total = 0
    for line in range(1, rnd.randint(2, 3) + 1):
        sku = rnd.choice(skus)
        qty = rnd.randint(1, 5)
        total += qty * int(prices[sku].replace(".", ""))
        items.append((o, line, sku, qty, prices[sku]))
    orders.append((o, rnd.randint(1, n_customers), when, rnd.choice(statuses),
                   "%d.%02d" % (total // 100, total % 100)))
    payments.append((o, o, rnd.choice(["card", "transfer", "voucher"]),
                     "%d.%02d" % (total // 100, total % 100), when))
write("orders", ["order_id", "customer_id", "ordered_at", "status", "total"], orders)
write("order_items", ["order_id", "line_no", "sku", "quantity", "unit_price"], items)
write("payments", ["payment_id", "order_id", "method", "amount", "paid_at"], payments)
